@testable import GatehouseServer
import Testing

/// The QR encoder's parts against published vectors (no sockets): Reed-Solomon, the BCH-coded format and
/// version information, capacities and block splits, the byte-mode bit stream, and the renderings. The whole
/// symbol is compared module for module with python-qrcode, and decoded by zbarimg, in
/// Tests/ThirdParty/test_qrcode.py.
@Suite("QR code encoder")
struct QRCodeTests {
    @Test("Reed-Solomon: the textbook HELLO WORLD data codewords of 1-M and 1-Q give their known ECC codewords")
    func reedSolomonVectors() {
        let m: [UInt8] = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]
        #expect(ReedSolomon.remainder(of: m, generator: ReedSolomon.generator(degree: 10))
            == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23])
        let q: [UInt8] = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236]
        #expect(ReedSolomon.remainder(of: q, generator: ReedSolomon.generator(degree: 13))
            == [168, 72, 22, 82, 217, 54, 156, 0, 46, 15, 180, 122, 16])
    }

    @Test("The degree-10 generator is α^(0, 251, 67, 46, 61, 118, 70, 64, 94, 32, 45)")
    func generatorPolynomial() {
        var power: [UInt8] = [1]  // α^i by repeated doubling in the field
        for _ in 1..<255 { power.append(ReedSolomon.multiply(power.last!, 2)) }
        let exponents = [251, 67, 46, 61, 118, 70, 64, 94, 32, 45]
        #expect(ReedSolomon.generator(degree: 10) == exponents.map { power[$0] })
        #expect(power[8] == 0x1D, "x^8 reduces by 0x11D")
    }

    @Test("Format information for every level and mask (ISO/IEC 18004 table C.1)")
    func formatInformation() {
        let table: [(QRCode.ErrorCorrection, [String])] = [
            (.low, ["111011111000100", "111001011110011", "111110110101010", "111100010011101",
                    "110011000101111", "110001100011000", "110110001000001", "110100101110110"]),
            (.medium, ["101010000010010", "101000100100101", "101111001111100", "101101101001011",
                       "100010111111001", "100000011001110", "100111110010111", "100101010100000"]),
            (.quartile, ["011010101011111", "011000001101000", "011111100110001", "011101000000110",
                         "010010010110100", "010000110000011", "010111011011010", "010101111101101"]),
            (.high, ["001011010001001", "001001110111110", "001110011100111", "001100111010000",
                     "000011101100010", "000001001010101", "000110100001100", "000100000111011"]),
        ]
        for (level, rows) in table {
            for (mask, bits) in rows.enumerated() {
                #expect(QRCode.formatBits(level: level, mask: mask) == Int(bits, radix: 2), "\(level) mask \(mask)")
            }
        }
    }

    @Test("Version information (table D.1): 7, 8, 9, 10 and 40")
    func versionInformation() {
        let expected = [7: 0x07C94, 8: 0x085BC, 9: 0x09A99, 10: 0x0A4D3, 40: 0x28C69]
        for (version, bits) in expected { #expect(QRCode.versionBits(version: version) == bits, "\(version)") }
    }

    @Test("Byte capacities and block splits match table 7 and table 9")
    func capacitiesAndBlocks() {
        #expect(QRCode.capacity(version: 1, level: .low) == 17)
        #expect(QRCode.capacity(version: 1, level: .medium) == 14)
        #expect(QRCode.capacity(version: 1, level: .high) == 7)
        #expect(QRCode.capacity(version: 5, level: .medium) == 84)
        #expect(QRCode.capacity(version: 7, level: .medium) == 122)
        #expect(QRCode.capacity(version: 10, level: .medium) == 213)
        #expect(QRCode.capacity(version: 40, level: .low) == 2953)
        // 5-Q: 134 codewords, 4 blocks of 18 ECC: two blocks of 15 data codewords, two of 16.
        let layout = QRCode.layout(version: 5, level: .quartile)
        #expect((layout.totalCodewords, layout.dataCodewords, layout.shortBlocks, layout.shortDataLength) == (134, 62, 2, 15))
        #expect(QRCode.alignmentCentres(version: 7) == [6, 22, 38])
        #expect(QRCode.alignmentCentres(version: 32) == [6, 34, 60, 86, 112, 138])
        #expect(QRCode.alignmentCentres(version: 40) == [6, 30, 58, 86, 114, 142, 170])
    }

    @Test("Byte mode: 0100, the 8-bit count, the bytes, a 4-bit terminator, then 0xEC 0x11 pads")
    func dataCodewords() {
        #expect(QRCode.dataCodewords(Array("abcd".utf8), version: 1, level: .medium)
            == [0x40, 0x46, 0x16, 0x26, 0x36, 0x40, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11])
        // Version 10 counts in 16 bits: 0100 0000000000000001 11111111 0000.
        let long = QRCode.dataCodewords([0xFF], version: 10, level: .medium)
        #expect(Array(long.prefix(5)) == [0x40, 0x00, 0x1F, 0xF0, 0xEC])
    }

    @Test("An otpauth URI of 133 bytes is version 8 at M; finders, timing and the dark module are in place")
    func structure() throws {
        let uri = TOTPEnrolment(user: "alice@example.com", issuer: "Gatehouse", secret: Array(repeating: 7, count: 20)).uri
        let code = try QRCode(bytes: Array(uri.utf8))
        #expect(uri.utf8.count == 133)
        #expect((code.version, code.size, code.level) == (8, 49, .medium))
        for (row, column) in [(0, 0), (0, code.size - 7), (code.size - 7, 0)] {
            #expect(code[row, column] && code[row + 6, column + 6] && code[row + 3, column + 3])
            #expect(!code[row + 1, column + 1])
        }
        for index in 8..<(code.size - 8) {
            #expect(code[6, index] == (index % 2 == 0))
            #expect(code[index, 6] == (index % 2 == 0))
        }
        #expect(code[code.size - 8, 8])
    }

    @Test("Out of range: too many bytes, a version or mask beyond the table")
    func refusals() {
        #expect(throws: QRCode.EncodingError.self) { try QRCode(bytes: Array(repeating: 0, count: 2332), level: .medium) }
        #expect(throws: QRCode.EncodingError.self) { try QRCode(bytes: Array(repeating: 0, count: 15), version: 1) }
        #expect(throws: QRCode.EncodingError.self) { try QRCode(bytes: [1], version: 41) }
        #expect(throws: QRCode.EncodingError.self) { try QRCode(bytes: [1], mask: 8) }
    }

    @Test("Renderings keep a 4-module quiet zone: half blocks two rows a line, ASCII ## per dark module")
    func renderings() throws {
        let code = try QRCode(bytes: Array("hi".utf8), version: 1, mask: 0)
        let lines = code.halfBlockText().split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 15)  // (21 + 8) rows, two per line, rounded up
        #expect(lines.allSatisfy { $0.count == 29 })
        #expect(lines.first == Substring(String(repeating: " ", count: 29)))
        // Line 2 holds module rows 4 and 5 (quiet zone row 4 is symbol row 0): the finder's top edge and ring.
        #expect(lines[2].hasPrefix("    █▀▀▀▀▀█ "))
        #expect(code.halfBlockText(inverted: true).split(separator: "\n").first == Substring(String(repeating: "█", count: 29)))
        let ascii = code.asciiText().split(separator: "\n")
        #expect(ascii.count == 29 && ascii.allSatisfy { $0.count == 58 })
        #expect(ascii[4].hasPrefix("        ##############  "))
        #expect(code.matrixRows().split(separator: "\n").first?.hasPrefix("1111111") == true)
        let pbm = code.portableBitmap(scale: 2)
        #expect(pbm.hasPrefix("P1\n58 58\n"))
    }
}

@Suite("TOTP enrolment")
struct TOTPEnrolmentTests {
    @Test("Base32: the RFC 4648 section 10 vectors, without padding")
    func base32() {
        let vectors = ["": "", "f": "MY", "fo": "MZXQ", "foo": "MZXW6", "foob": "MZXW6YQ", "fooba": "MZXW6YTB",
                       "foobar": "MZXW6YTBOI"]
        for (text, encoded) in vectors { #expect(TOTPEnrolment.base32(Array(text.utf8)) == encoded, "\(text)") }
        #expect(TOTPEnrolment.base32(Array(repeating: 0xFF, count: 20)) == String(repeating: "7", count: 32))
    }

    @Test("The URI escapes the label and issuer (UTF-8, %20, %3A) and spells out SHA1/6/30")
    func uri() {
        let enrolment = TOTPEnrolment(user: "ana maría@example.com", issuer: "Acme: Corp", secret: Array("12345678901234567890".utf8))
        #expect(enrolment.base32Secret == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(enrolment.uri == "otpauth://totp/Acme%3A%20Corp:ana%20mar%C3%ADa@example.com"
            + "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%3A%20Corp&algorithm=SHA1&digits=6&period=30")
        #expect(enrolment.usersFileLine == "totp_secret: GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(TOTPEnrolment.percentEncoded("a+b&c=d/e?f#g%") == "a%2Bb%26c%3Dd%2Fe%3Ff%23g%25")
    }

    @Test("Fresh enrolments have 160-bit secrets that differ")
    func randomSecrets() {
        let secrets = Set((0..<8).map { _ in TOTPEnrolment(user: "u", issuer: "i").secret })
        #expect(secrets.count == 8)
        #expect(secrets.allSatisfy { $0.count == 20 })
    }
}
