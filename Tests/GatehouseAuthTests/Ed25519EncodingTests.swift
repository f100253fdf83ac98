@preconcurrency import Crypto
import Foundation
import Testing

@testable import GatehouseAuth

/// Small-order and non-canonical Ed25519 points: refused as keys when the config loads, and as a signature's R.
@Suite struct Ed25519EncodingTests {
    /// The eight small-order points (canonical) and their six alternative encodings, as the CCTV Ed25519 vectors
    /// and libsodium's blocklist list them; `smallOrder` false marks the non-canonical ones.
    static let weakPoints: [(hex: String, smallOrder: Bool)] = [
        // y = 0, x = ±√−1 (order 4)
        ("0000000000000000000000000000000000000000000000000000000000000000", true),
        ("0000000000000000000000000000000000000000000000000000000000000080", true),
        // the identity (0, 1), and (0, −1) of order 2
        ("0100000000000000000000000000000000000000000000000000000000000000", true),
        ("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true),
        // the four points of order 8
        ("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", true),
        ("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", true),
        ("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", true),
        ("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", true),
        // x = 0 with the sign bit set
        ("0100000000000000000000000000000000000000000000000000000000000080", false),
        ("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false),
        // y = p and y = p + 1 (that is 0 and 1), either sign
        ("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false),
        ("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false),
        ("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false),
        ("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false),
    ]

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    private static func loadError(_ body: () throws(KeyError) -> Any) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return error.message
        }
    }

    private static func expectedMessage(_ smallOrder: Bool) -> String {
        smallOrder ? "small-order point" : "not canonically encoded"
    }

    @Test(arguments: weakPoints.indices)
    func weakKeysAreRefusedInJWKForm(_ index: Int) throws {
        let (hex, smallOrder) = Self.weakPoints[index]
        let x = TokenMinter.base64url(Self.bytes(hex: hex))
        let message = try #require(Self.loadError { () throws(KeyError) -> Any in
            try KeyLoader.jwks(#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"weak","x":"\#(x)"}]}"#)
        })
        #expect(message.contains("JWK #0 (kid 'weak')"))
        #expect(message.contains(Self.expectedMessage(smallOrder)), "\(hex): \(message)")
    }

    @Test(arguments: weakPoints.indices)
    func weakKeysAreRefusedInPEMForm(_ index: Int) throws {
        let (hex, smallOrder) = Self.weakPoints[index]
        let der: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00] + Self.bytes(hex: hex)
        let pem = "-----BEGIN PUBLIC KEY-----\n" + Data(der).base64EncodedString() + "\n-----END PUBLIC KEY-----\n"
        let message = try #require(Self.loadError { () throws(KeyError) -> Any in
            try KeyLoader.pem(pem, algorithm: nil, kid: nil)
        })
        #expect(message.contains(Self.expectedMessage(smallOrder)), "\(hex): \(message)")
    }

    @Test func everyEncodingOfYAtLeastPIsNonCanonical() {
        // p + k for k = 0 … 18 fills the top of the 255-bit range; with the sign bit, 38 encodings.
        for low in UInt8(0xED)...UInt8(0xFF) {
            for top in [UInt8(0x7F), 0xFF] {
                let point = [low] + [UInt8](repeating: 0xFF, count: 30) + [top]
                #expect(Ed25519Encoding.flaw(point[...]) == .nonCanonical, "\(low) \(top)")
            }
        }
        // Just below p: y = p − 1 (small order) and p − 2 (an ordinary value) are canonical.
        let below = [UInt8](repeating: 0xFF, count: 30) + [0x7F]
        #expect(Ed25519Encoding.flaw(([0xEC] + below)[...]) == .smallOrder)
        #expect(Ed25519Encoding.flaw(([0xEB] + below)[...]) == nil)
    }

    @Test func ordinaryKeysLoad() throws {
        for _ in 0..<32 {
            let key = Curve25519.Signing.PrivateKey().publicKey
            #expect(Ed25519Encoding.flaw(Array(key.rawRepresentation)[...]) == nil)
            _ = try KeyLoader.jwks(TestKeys.ed25519JWK(key))
        }
    }

    /// The forgery that a small-order key allows: with the identity as the key, R = identity and S = 0 verify for
    /// any message. Built past the loader (which refuses the key), the verifier still refuses the token, by R.
    @Test func aTokenForgedForTheIdentityKeyIsRefused() throws {
        let identity = Self.bytes(hex: Self.weakPoints[2].hex)
        let material = KeyMaterial.ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: identity))
        let verifier = Fixture.verifier([VerificationKey(kid: nil, algorithm: .EdDSA, material: material)])
        let forged = TokenMinter.forge(
            header: #"{"alg":"EdDSA"}"#, payload: Fixture.claims(),
            signature: identity + [UInt8](repeating: 0, count: 32))
        #expect(Fixture.outcome(verifier, forged) == "bad-signature")
    }

    /// A signature whose R is the identity, made with an ordinary key's private scalar (S = k·a mod L, so that
    /// [S]B − [k]A = identity): BoringSSL accepts it; the R check refuses it. Made by a Python ed25519 model
    /// from the seed 00 01 … 1f over `{"alg":"EdDSA"}` and ``Fixture/claims()``.
    @Test func aSignatureWhoseRIsSmallOrderNeverVerifies() throws {
        let seed = (0..<32).map { UInt8($0) }
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        let verifier = Fixture.verifier([try KeyLoader.pem(TestKeys.ed25519PEM(key.publicKey), algorithm: nil, kid: nil)])
        let header = TokenMinter.base64url(Array(#"{"alg":"EdDSA"}"#.utf8))
        let payload = TokenMinter.base64url(Array(Fixture.claims().utf8))
        let token = header + "." + payload
            + ".AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADwFsSndx9K6OWygIFdlYnrrxmjR3haE-A-3Ks0Bpq2Cw"
        #expect(Fixture.outcome(verifier, token) == "bad-signature")
        // The same key's own signatures still verify.
        let signed = TokenMinter.mint(claims: Fixture.claims(), key: .ed25519(key), algorithm: .EdDSA)
        #expect(Fixture.outcome(verifier, signed) == "ok")
    }
}
