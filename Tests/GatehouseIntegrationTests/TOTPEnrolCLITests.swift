import Foundation
import GatehouseSessions
import Synchronization
import GatehouseTestSupport
import Testing

/// `gatehouse totp enroll`, run as the binary: what it prints, the URI's escaping, that the printed secret
/// yields the codes the sign-in computes (TOTP.swift), and `--write` on a real users file.
@Suite("gatehouse totp enroll")
struct TOTPEnrolCLITests {
    /// The parts of an enrolment's output.
    struct Printed {
        let secret: String
        let uri: String
        let art: [Substring]
        let yamlLine: String
        let stdout: String
    }

    static func enroll(_ arguments: [String]) throws -> Printed {
        let result = try runGatehouse(["totp", "enroll"] + arguments)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let secret = lines.first { $0.hasPrefix("Secret (base32): ") }.map { String($0.dropFirst(17)) } ?? ""
        let uri = lines.first { $0.hasPrefix("URI: ") }.map { String($0.dropFirst(5)) } ?? ""
        let yaml = lines.last { $0.hasPrefix("    totp_secret: ") }.map { String($0.dropFirst(4)) } ?? ""
        let art = lines.filter { $0.contains("█") || $0.contains("▀") || $0.contains("▄") || $0.contains("##") }
        return Printed(secret: secret, uri: uri, art: art, yamlLine: yaml, stdout: result.stdout)
    }

    /// RFC 4648 base32 without padding, decoded here (test-side, independent of the encoder under test).
    static func base32Decode(_ text: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bytes: [UInt8] = []
        var buffer = 0
        var bits = 0
        for character in text {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = buffer << 5 | value
            bits += 5
            if bits >= 8 {
                bytes.append(UInt8(buffer >> (bits - 8) & 0xFF))
                bits -= 8
            }
        }
        return bytes
    }

    static func usersFile(_ text: String, mode: Int = 0o640) throws -> String {
        let path = try CLITests.writeConfig(text, name: "users.yaml")
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    static let users = """
        # staff accounts
        users:
          alice:
            password: "$2y$05$abcdefghijklmnopqrstuuOKF7Q5P3uL3S1VoQyZ9v9Y4mFb0zG5u"
            email: alice@example.com   # work address
          bob:
            password: "$2y$05$abcdefghijklmnopqrstuuOKF7Q5P3uL3S1VoQyZ9v9Y4mFb0zG5u"
            groups: [staff]
        """

    @Test("Prints a 32-character base32 secret, the otpauth URI with it, the QR art and the users-file line")
    func printsEverything() throws {
        let printed = try Self.enroll(["alice"])
        #expect(printed.secret.count == 32)
        #expect(printed.secret.allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains($0) })
        #expect(printed.uri == "otpauth://totp/Gatehouse:alice?secret=\(printed.secret)&issuer=Gatehouse"
            + "&algorithm=SHA1&digits=6&period=30")
        #expect(printed.yamlLine == "totp_secret: \(printed.secret)")
        // Version 7 at M (45 modules) or 8 (49), plus the quiet zone: (size + 8) columns, (size + 8) / 2 lines.
        let width = printed.art.first?.count ?? 0
        #expect([53, 57].contains(width), "art width \(width)")
        #expect(printed.art.allSatisfy { $0.count == width })
        #expect(!printed.stdout.contains("##"))
    }

    @Test("The user and issuer are percent-encoded in the label and the issuer parameter")
    func escaping() throws {
        let printed = try Self.enroll(["ana maría@example.com", "--issuer", "Acme: Corp"])
        #expect(printed.uri.hasPrefix("otpauth://totp/Acme%3A%20Corp:ana%20mar%C3%ADa@example.com?secret="))
        #expect(printed.uri.contains("&issuer=Acme%3A%20Corp&"))
        #expect(!printed.uri.contains(" ") && !printed.uri.contains("+"))
    }

    @Test("The secret in the URI decodes to 160 bits whose TOTP codes are TOTP.swift's")
    func secretMatchesTOTP() throws {
        let printed = try Self.enroll(["alice"])
        let query = printed.uri.split(separator: "?")[1].split(separator: "&")
        let fromURI = try #require(query.first { $0.hasPrefix("secret=") }).dropFirst(7)
        #expect(String(fromURI) == printed.secret)
        let secret = try #require(Self.base32Decode(String(fromURI)))
        #expect(secret.count == 20)
        // RFC 6238 with the URI's parameters (SHA1, 6 digits, 30 s): TOTP.swift's defaults.
        #expect(TOTP.code(secret: secret, time: 59) == TOTP.hotp(secret: secret, counter: 1, digits: 6))
        let now = Int64(Date().timeIntervalSince1970)
        #expect(TOTP.code(secret: secret, time: now).count == 6)
        // Two runs, two secrets.
        #expect(try Self.enroll(["alice"]).secret != printed.secret)
    }

    @Test("--ascii draws ## per dark module; --invert swaps the glyphs")
    func asciiAndInvert() throws {
        let ascii = try Self.enroll(["alice", "--ascii"])
        #expect(ascii.art.count >= 45 + 8 - 8)  // the quiet-zone lines are blank
        #expect(ascii.art.allSatisfy { $0.count == ascii.art[0].count && $0.count % 2 == 0 })
        #expect(!ascii.stdout.contains("█"))
        let inverted = try Self.enroll(["alice", "--invert"])
        let first = try #require(inverted.art.first)
        #expect(first.allSatisfy { $0 == "█" })  // the quiet zone, now drawn
    }

    @Test("--users-file: the user must be in it; a name the file cannot hold is warned about")
    func usersFileChecks() throws {
        let path = try Self.usersFile(Self.users)
        let missing = try runGatehouse(["totp", "enroll", "carol", "--users-file", path])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("has no user \"carol\""), "stderr: \(missing.stderr)")
        #expect(!missing.stdout.contains("Secret"))
        let present = try runGatehouse(["totp", "enroll", "bob", "--users-file", path])
        #expect(present.status == 0, "stderr: \(present.stderr)")
        let odd = try runGatehouse(["totp", "enroll", "ana maría"])
        #expect(odd.status == 0)
        #expect(odd.stderr.contains("warning: user names must be"), "stderr: \(odd.stderr)")
        let both = try runGatehouse(["totp", "enroll", "bob", "--users-file", path, "--config", path])
        #expect(both.status != 0)
        let noFile = try runGatehouse(["totp", "enroll", "bob", "--write"])
        #expect(noFile.status != 0)
        #expect(noFile.stderr.contains("--write needs --users-file or --config"), "stderr: \(noFile.stderr)")
        let emptyIssuer = try runGatehouse(["totp", "enroll", "bob", "--issuer", ""])
        #expect(emptyIssuer.status != 0)
    }

    @Test("--write inserts the line under the user, keeps the rest byte for byte and the mode; again replaces it")
    func writeInsertsThenReplaces() throws {
        let path = try Self.usersFile(Self.users, mode: 0o640)
        let run = try runGatehouse(["totp", "enroll", "bob", "--users-file", path, "--write"])
        #expect(!run.stderr.contains("readable by every user"), "stderr: \(run.stderr)")
        let first = try Self.enroll(["bob", "--users-file", path, "--write"])
        #expect(first.stdout.contains("Set users.bob.totp_secret in"))
        let afterFirst = try String(contentsOfFile: path, encoding: .utf8)
        var expected = Self.users.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        expected.insert("    totp_secret: \(first.secret)", at: 6)
        #expect(afterFirst == expected.joined(separator: "\n"))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o640)
        let second = try Self.enroll(["bob", "--users-file", path, "--write"])
        let afterSecond = try String(contentsOfFile: path, encoding: .utf8)
        expected[6] = "    totp_secret: \(second.secret)"
        #expect(afterSecond == expected.joined(separator: "\n"))
        #expect(afterSecond.components(separatedBy: "totp_secret").count == 2)
        // No temporary file left beside it.
        let directory = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["users.yaml"])
    }

    @Test("--write through --config's login.users_file; a world-readable users file is warned about")
    func writeThroughConfig() throws {
        let path = try Self.usersFile(Self.users)
        let directory = (path as NSString).deletingLastPathComponent
        let config = directory + "/gatehouse.yaml"
        try """
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
            login:
              users_file: "\(path)"
            sessions:
              embedded: { path: "\(directory)/sessions.sqlite" }
            routes:
              - { name: all, upstream: app, accept: [session] }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let result = try runGatehouse(["totp", "enroll", "alice", "--config", config, "--write"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("is readable by every user"), "stderr: \(result.stderr)")
        let line = result.stdout.split(separator: "\n").first { $0.hasPrefix("Secret (base32): ") }
        let secret = try #require(line).dropFirst(17)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("  alice:\n    totp_secret: \(secret)\n    password:"), "file: \(text)")
    }

    @Test("--write refuses a flow-style account and leaves the file as it was; nothing is printed")
    func writeRefusesFlowStyle() throws {
        let text = "users:\n  alice: { password: \"$2y$05$abcdefghijklmnopqrstuuOKF7Q5P3uL3S1VoQyZ9v9Y4mFb0zG5u\" }\n"
        let path = try Self.usersFile(text)
        let result = try runGatehouse(["totp", "enroll", "alice", "--users-file", path, "--write"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("edit \(path) by hand"), "stderr: \(result.stderr)")
        #expect(!result.stdout.contains("Secret"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
    }

    @Test("Concurrent --write runs for different users all land (they take turns on the file)")
    func concurrentWrites() throws {
        let names = (1...6).map { "user\($0)" }
        let accounts = names.map { "  \($0):\n    password: \"$2y$05$abcdefghijklmnopqrstuuOKF7Q5P3uL3S1VoQyZ9v9Y4mFb0zG5u\"" }
        let path = try Self.usersFile("users:\n" + accounts.joined(separator: "\n") + "\n")
        let statuses = Mutex<[Int32]>([])
        DispatchQueue.concurrentPerform(iterations: names.count) { index in
            let status = (try? runGatehouse(["totp", "enroll", names[index], "--users-file", path, "--write"]))?.status
            statuses.withLock { $0.append(status ?? -1) }
        }
        #expect(statuses.withLock { $0 } == Array(repeating: 0, count: names.count))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for name in names {
            #expect(text.contains("  \(name):\n    totp_secret: "), "\(name) missing in: \(text)")
        }
    }
}
