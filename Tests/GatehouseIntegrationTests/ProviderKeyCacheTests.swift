import Glibc
import GatehouseConfig
import Testing

@testable import GatehouseServer

/// The provider key sets kept on disk: written whole (temporary file, then rename), read back at start, named by
/// a hash of the issuer so that no issuer string can steer the file out of the directory.
@Suite("provider keys on disk")
struct ProviderKeyCacheTests {
    static let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","#
        + #""x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#

    static func directory() -> String {
        var template = Array("/tmp/gh-keycache-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    @Test func writesReadsAndServesAfterARestart() throws {
        let base = Self.directory() + "/nested/keys"  // created on first write
        let issuer = ProviderIssuer(
            issuer: "https://idp.example/../../etc",
            keys: ProviderKeysSection(source: .jwksURI("https://idp.example/certs"), caFile: nil,
                                      refresh: .seconds(3600), location: nil),
            cachePath: ProviderIssuer.cachePath(directory: base, issuer: "https://idp.example/../../etc"))
        #expect(issuer.cachePath.hasPrefix(base + "/"))
        #expect(!issuer.cachePath.dropFirst(base.count + 1).contains("/"))
        #expect(issuer.cachePath.hasSuffix(".jwks.json"))
        #expect(ProviderKeyDirectory.fromCache([issuer]).keys.isEmpty)

        #expect(KeySetFile.write(Array(Self.jwks.utf8), to: issuer.cachePath) == nil)
        #expect(KeySetFile.read(issuer.cachePath) == Array(Self.jwks.utf8))
        #expect(access(issuer.cachePath + ".tmp", F_OK) != 0, "no temporary file left behind")
        let restored = ProviderKeyDirectory.fromCache([issuer])
        #expect(restored.keys[issuer.issuer]?.map(\.kid) == ["k1"])

        // A damaged copy is ignored (the issuer then waits for its provider), never half-used.
        #expect(KeySetFile.write(Array("{\"keys\":[".utf8), to: issuer.cachePath) == nil)
        #expect(ProviderKeyDirectory.fromCache([issuer]).keys.isEmpty)
    }

    @Test func aDirectoryThatCannotBeWrittenIsReported() {
        #expect(KeySetFile.write([1, 2, 3], to: "/proc/gatehouse-no/keys.json") != nil)
    }
}
