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

    /// y values and whether some curve point has them, from a Python model of RFC 8032's decoding (Euler's
    /// criterion on (y² − 1)(d·y² + 1)): small values, values just below p, limb edges, and random ones.
    static let curveMembership: [(hex: String, onCurve: Bool)] = [
        ("0200000000000000000000000000000000000000000000000000000000000000", false),
        ("0300000000000000000000000000000000000000000000000000000000000000", true),
        ("0400000000000000000000000000000000000000000000000000000000000000", true),
        ("0700000000000000000000000000000000000000000000000000000000000000", false),
        ("ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false),
        ("eaffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true),
        ("e9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true),
        ("e8ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true),
        ("e6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false),
        ("0000000000000000000000000000000000000000000000000000000000000040", false),
        ("0100000000000000000000000000000000000000000000000000000000000040", true),
        ("ecfffffffffffffffffffffffffffffffffffffffffffffffffeffffffffff7f", true),
        ("ffffffffffffffff000000000000000000000000000000000000000000000000", false),
        ("0000000000000000010000000000000000000000000000000000000000000000", true),
        ("0500000000000000000000000000000001000000000000000000000000000000", false),
        ("ffffffffffffffffffffffffffffffffffffffffffffffff0000000000000000", false),
        ("6aad39f4c2aaed1a8a27e534ce4aa7426078fe43c27a88b4ada9dd74482b8410", false),
        ("232cae48c88fff9b500f0b4cca8e9f33a72971aa44125c7294d11bb5c82df818", false),
        ("52c00060c28921553a62c526134241b82b54e7a6e2d5c69174e5e75e2a082b6e", true),
        ("d99a08e47ccc61a0c7fd186f5fc43b369986715a5578f834b4324705f5921425", true),
        ("0102016c9e45bf9fcd7bc5036e3c2e972bed6264cf29988e59785274c6502d2b", false),
        ("57ac9570ee671978bc641eb94c0e31eb21eb4ef5d7853da56a0ecc50676b1848", true),
        ("52d68e7732bc13156cefd33dc459bff2be5653a3566c3d4fa23ab942f6766043", false),
        ("78408cf78b253434bee6f24cf56c3e9a471ec54a6fc4e51e90817f9660fc714a", false),
        ("c6f5ebb9d94d0d82716ebba90b240ee61f26ec6bc234178918d842d051ee8a41", true),
        ("724465604de8b434765c05e53ba85134cd5093f295427106a576e65e1a99c443", true),
        ("dd93539a31e9c2b5dd66a5bd642f743cd11c6f64d4411757d1a41f0aed60594c", false),
        ("1132ea3f86b7928a72d12242c66b7e4e484cfea1205d1445613c96bd5a0bf65a", false),
        ("0e170b151670e2c3d932c254c8643c1e041421c003bb7a0bbffe3eb32c0c3169", false),
        ("4b77fe0050ade3f673512d0695ee17f8fd13d8972f0392c0b80a3e509a19033d", true),
        ("13b5e7857d0a0c37b8407af248c56e0c1fe9f4bdc1163d4b27a961356e651735", true),
        ("1ab405cc295e1e9e307c739d83664b2259de939351012a121212c10a27052805", false),
        ("f417eccb0e89c5cf84761a5978a1f11fcdccd4d174e6c726ce04f0e27033940b", true),
        ("7937dfa763bc8d0209100df52b40a1bfcea20c6b8300a2fb21cbe78b70a3c943", true),
        ("9cbd64027f45101008a382429db76492fdf8bc4758c2da3d907fc5b8e9eb2553", true),
        ("20917875652ee1ac97a229a1f7d2e8b7de7810be457f2f7ff1805355fdafdb1f", false),
        ("9a36bbfdf02738c80da9f28625665ad61734d49d078bfd88ac7eb7af51a5bc16", false),
        ("429d15f65699054e24859f4b68a31326dade29d9495205ce125f2896e55fe148", true),
        ("1f6a710ee2343d3d8ed954fb9a62e67b4e88aebc303a2b2e762c7feb2ae69268", false),
        ("8d1613ce3c32923fc658eac66a8040cf5efb61aee99951d591629abb215d7802", false),
    ]

    @Test func keysWhoseYIsOnNoPointAreRefused() throws {
        for (hex, onCurve) in Self.curveMembership {
            for sign in [UInt8(0), 0x80] {
                var raw = Self.bytes(hex: hex)
                raw[31] |= sign
                #expect(Field25519.isEdwardsY(Field25519(encodedY: raw[...])) == onCurve, "\(hex)")
                let problem = Ed25519Encoding.keyProblem(raw)
                #expect((problem == nil) == onCurve, "\(hex) sign \(sign): \(problem ?? "loads")")
                if !onCurve { #expect(problem?.contains("not a point on the curve") == true) }
            }
        }
        #expect(Self.curveMembership.contains { $0.onCurve } && Self.curveMembership.contains { !$0.onCurve })
        let x = TokenMinter.base64url(Self.bytes(hex: Self.curveMembership[0].hex))  // y = 2: on no point
        let message = try #require(Self.loadError { () throws(KeyError) -> Any in
            try KeyLoader.jwks(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)"}"#)
        })
        #expect(message.contains("not a point on the curve"), "\(message)")
    }

    @Test func ordinaryKeysLoad() throws {
        for _ in 0..<256 {
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
