import Testing

@testable import GatehouseAuth

@Suite struct Base64URLTests {
    private func decode(_ text: String) -> [UInt8]? { Base64URL.decode(Array(text.utf8)[...]) }

    @Test func decodesRFC4648Vectors() {
        #expect(decode("") == [])
        #expect(decode("Zg") == Array("f".utf8))
        #expect(decode("Zm8") == Array("fo".utf8))
        #expect(decode("Zm9v") == Array("foo".utf8))
        #expect(decode("Zm9vYg") == Array("foob".utf8))
        #expect(decode("Zm9vYmE") == Array("fooba".utf8))
        #expect(decode("Zm9vYmFy") == Array("foobar".utf8))
        #expect(decode("-_8") == [0xFB, 0xFF])
    }

    @Test func decodesEveryByteValueRoundTrip() {
        let all = (0...255).map { UInt8($0) }
        for length in 0...all.count where length % 37 == 0 || length < 8 {
            let slice = Array(all[0..<length])
            #expect(decode(TokenMinter.base64url(slice)) == slice)
        }
    }

    @Test(arguments: [
        "Zg==", "Zm8=",  // padding
        "+_8", "-/8", "ab+c",  // standard alphabet
        "Zm9v Yg", "Zm9v\nYg", " Zm9v", "Zm9v\t",  // whitespace
        "Z", "Zm9vY",  // length 4n+1
        "Zh", "Zm9", "Zm-",  // non-zero unused bits in the final character
        "Zm9v.", "Zm\u{00}v", "Zm9vé",
    ])
    func refusesNonCanonicalText(_ text: String) {
        #expect(decode(text) == nil)
    }

    @Test func pemBodyAcceptsPaddingAndLineBreaks() {
        #expect(Base64URL.decodePEMBody("Zm9v\nYmE=\n".utf8) == Array("fooba".utf8))
        #expect(Base64URL.decodePEMBody("Zg==".utf8) == Array("f".utf8))
        #expect(Base64URL.decodePEMBody("a+/A".utf8) == [0x6B, 0xEF, 0xC0])
    }

    @Test(arguments: ["Zg", "Zg=", "Zg===", "Z===", "====", "Zm9v=", "Zh==", "Zm-v", "Zg==Zg=="])
    func pemBodyRefusesBadPadding(_ text: String) {
        #expect(Base64URL.decodePEMBody(text.utf8) == nil)
    }
}
