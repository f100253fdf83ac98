import Foundation
import Testing

@testable import GatehouseConfig

/// `totp_secret` and `totp_secret_file` in the users file (issue 14): base32, at least 80 bits, one of the two;
/// every error names the user and the key and never quotes the secret.
@Suite("Users file: TOTP secrets")
struct UsersFileTOTPTests {
    static let bcrypt = UsersFileTests.bcrypt

    private func parse(_ body: String) -> Result<UsersFile, ConfigErrors> {
        let yaml = "users:\n  alice:\n    password: \"\(Self.bcrypt)\"\n    " + body + "\n"
        do {
            return .success(try UsersFileLoader.parse(yaml: yaml, path: "users.yaml"))
        } catch {
            return .failure(error)
        }
    }

    @Test("base32 in any case, grouped with blanks, padded: the RFC 6238 seed")
    func validSecrets() throws {
        let seed = Array("12345678901234567890".utf8)
        for text in ["GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
                     "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"] {
            let file = try parse("totp_secret: \"\(text)\"").get()
            #expect(file.users[0].totpSecret == seed, "\(text)")
        }
        // 80 bits exactly (16 characters) is the minimum; padding is accepted.
        #expect(try parse("totp_secret: \"JBSWY3DPEHPK3PXP\"").get().users[0].totpSecret?.count == 10)
        #expect(try parse("totp_secret: \"JBSWY3DPEHPK3PXP====\"").get().users[0].totpSecret?.count == 10)
    }

    @Test("no secret: no second factor")
    func absent() throws {
        let file = try UsersFileLoader.parse(yaml: "users:\n  alice:\n    password: \"\(Self.bcrypt)\"\n", path: "u.yaml")
        #expect(file.users[0].totpSecret == nil)
    }

    @Test(
        "bad secrets: named by user and key, the value never quoted",
        arguments: [
            ("totp_secret: \"JBSWY3DPEHPK3PX1\"", "character 16"),
            ("totp_secret: \"JBSWY3DP!HPK3PXP\"", "character 9"),
            ("totp_secret: \"JBSWY3DPEHPK3PX\"", "at least 80 bits"),
            ("totp_secret: \"\"", "at least 80 bits"),
            ("totp_secret: \"JBSWY3DP\\u0000EHPK3PXP\"", "character 9"),
            ("totp_secret: \"JBSWY3DPEHPK3PXPJ\\nBSWY\"", "character 18"),
            ("totp_secret: \"JBSWY3DPEHPK3PXP=A\"", "character 18"),
            ("totp_secret: \"ＪBSWY3DPEHPK3PXP\"", "character 1"),
            ("totp_secret: [a, b]", "base32"),
        ])
    func badSecrets(body: String, reason: String) throws {
        guard case .failure(let errors) = parse(body) else {
            Issue.record("accepted: \(body)")
            return
        }
        let error = try #require(errors.errors.first)
        #expect(errors.errors.count == 1)
        #expect(error.key == "users.alice.totp_secret", "\(error.key)")
        #expect(error.message.contains(reason), "\(error.message)")
        #expect(!error.message.contains("JBSWY3DP"), "the secret is never quoted")
        #expect(error.location?.line == 4)
    }

    @Test("a secret of more than 1024 bits is refused")
    func tooLong() throws {
        guard case .failure(let errors) = parse("totp_secret: \"\(String(repeating: "A", count: 300))\"") else {
            Issue.record("accepted")
            return
        }
        #expect(errors.errors.first?.message.contains("at most") == true)
    }

    @Test("totp_secret_file: read, trimmed; missing, too short or both keys: errors naming the user and key")
    func secretFiles() throws {
        let directory = NSTemporaryDirectory() + "gh-totp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = directory + "/alice.totp"
        try "  GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n\n".write(toFile: good, atomically: true, encoding: .utf8)
        let file = try parse("totp_secret_file: \"\(good)\"").get()
        #expect(file.users[0].totpSecret == Array("12345678901234567890".utf8))

        let short = directory + "/short.totp"
        try "JBSWY3DP\n".write(toFile: short, atomically: true, encoding: .utf8)
        guard case .failure(let shortErrors) = parse("totp_secret_file: \"\(short)\"") else {
            Issue.record("short secret file accepted")
            return
        }
        #expect(shortErrors.errors.first?.key == "users.alice.totp_secret_file")
        #expect(shortErrors.errors.first?.message.contains("at least 80 bits") == true)
        #expect(shortErrors.errors.first?.message.contains(short) == true)

        guard case .failure(let missing) = parse("totp_secret_file: \"\(directory)/none.totp\"") else {
            Issue.record("missing secret file accepted")
            return
        }
        #expect(missing.errors.first?.key == "users.alice.totp_secret_file")
        #expect(missing.errors.first?.message.contains("no such file") == true)

        guard case .failure(let both) = parse("totp_secret: \"GEZDGNBVGY3TQOJQ\"\n    totp_secret_file: \"\(good)\"") else {
            Issue.record("both keys accepted")
            return
        }
        #expect(both.errors.first?.message.contains("not both") == true)
    }
}
