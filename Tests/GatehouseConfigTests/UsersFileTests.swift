import Foundation
import Testing

@testable import GatehouseConfig

@Suite("Users file: accounts, and every error with its line")
struct UsersFileTests {
    /// Made with `htpasswd -nbB -C 5 user pw` and `mkpasswd -m yescrypt pw`.
    static let bcrypt = "$2y$05$qUmtHMrGmz3NbI6jndR2j.n/g1uk4h5h2YLeCqFdWerF8rQ10V2d6"
    static let yescrypt = "$y$j9T$q6W1O/XK6gbRtoUNhBr300$DaP0jGbzD3jMlkmUlgxhy6Hfv4KuNuFJmGow14q34Q."

    private func users(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> UsersFile? {
        do {
            return try UsersFileLoader.parse(yaml: yaml, path: "users.yaml")
        } catch {
            Issue.record("unexpected errors:\n\(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    private func errors(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> [ConfigError] {
        do {
            _ = try UsersFileLoader.parse(yaml: yaml, path: "users.yaml")
            Issue.record("expected errors, but the users file loaded", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.errors
        }
    }

    private func singleError(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigError?
    {
        let found = errors(yaml, sourceLocation: sourceLocation)
        guard found.count == 1 else {
            Issue.record(
                "expected one error, got \(found.count):\n\(ConfigErrors(errors: found))",
                sourceLocation: sourceLocation)
            return nil
        }
        return found[0]
    }

    /// One user `alice` with `body` (indented under her name) after a valid password line.
    private func alice(_ body: String) -> String {
        "users:\n  alice:\n    password: \"\(Self.bcrypt)\"\n"
            + body.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
            + "\n"
    }

    // MARK: Valid files

    @Test("a full file reads every field, in file order, with lines")
    func validFile() throws {
        let yaml = """
            # accounts of the gateway's own sign-in
            users:
              alice:
                password: "\(Self.bcrypt)"
                email: alice@example.com
                groups: [staff, admins, "ops, night shift"]
                name: "Alice Liddell"
                disabled: false
              bob:
                password: '\(Self.yescrypt)'
                disabled: true
              carol.d-e_f@corp:
                password: \(Self.bcrypt)
                groups: solo
            """
        let file = try #require(users(yaml))
        #expect(file.sourcePath == "users.yaml")
        #expect(file.users.map(\.name) == ["alice", "bob", "carol.d-e_f@corp"])
        #expect(
            file.users[0]
                == UserEntry(
                    name: "alice", passwordHash: Self.bcrypt, email: "alice@example.com",
                    groups: ["staff", "admins", "ops, night shift"], displayName: "Alice Liddell", disabled: false,
                    line: 3))
        #expect(
            file.users[1]
                == UserEntry(
                    name: "bob", passwordHash: Self.yescrypt, email: nil, groups: [], displayName: nil, disabled: true,
                    line: 9))
        #expect(file.users[2].groups == ["solo"])
        #expect(file.users[2].line == 12)
    }

    @Test("an empty users map is a valid, empty directory", arguments: ["users: {}\n", "users:\n", "users: ~\n"])
    func emptyUsers(yaml: String) throws {
        #expect(try #require(users(yaml)).users.isEmpty)
    }

    @Test("an empty groups list is no groups")
    func emptyGroups() throws {
        #expect(try #require(users(alice("groups: []"))).users[0].groups.isEmpty)
    }

    // MARK: Keys

    @Test("a misspelt key suggests the right one, and the password is then missing")
    func misspeltPassword() throws {
        let yaml = """
            users:
              alice:
                pasword: "\(Self.bcrypt)"
            """
        let found = errors(yaml)
        #expect(found.count == 2)
        let unknown = try #require(found.first { $0.code == .unknownKey })
        #expect(unknown.location?.line == 3)
        #expect(unknown.description == "users.yaml:3: users.alice.pasword: unknown key; did you mean \"password\"?")
        let missing = try #require(found.first { $0.code == .missingKey })
        #expect(missing.key == "users.alice.password")
        #expect(missing.location?.line == 3)
    }

    @Test(
        "misspellings at each level",
        arguments: [
            ("user:\n  alice:\n    password: x\n", 1, "user", "users"),
            (
                "users:\n  alice:\n    password: \"\(UsersFileTests.bcrypt)\"\n    emial: a@b.c\n", 4,
                "users.alice.emial", "email"
            ),
            (
                "users:\n  alice:\n    password: \"\(UsersFileTests.bcrypt)\"\n    group: [a]\n", 4,
                "users.alice.group", "groups"
            ),
            (
                "users:\n  alice:\n    password: \"\(UsersFileTests.bcrypt)\"\n    disable: true\n", 4,
                "users.alice.disable",
                "disabled"
            ),
        ])
    func suggestions(yaml: String, line: Int, key: String, suggestion: String) throws {
        let error = try #require(errors(yaml).first { $0.code == .unknownKey })
        #expect(error.location?.line == line)
        #expect(error.key == key)
        #expect(error.message == "unknown key; did you mean \"\(suggestion)\"?")
    }

    @Test("a missing users key, and a missing password")
    func missingKeys() throws {
        let root = try #require(singleError("{}\n"))
        #expect(root.code == .missingKey)
        #expect(root.key == "users")

        let noPassword = try #require(singleError("users:\n  alice:\n    email: a@example.com\n"))
        #expect(noPassword.code == .missingKey)
        #expect(noPassword.key == "users.alice.password")
        #expect(noPassword.location?.line == 3)

        let emptyAccount = try #require(singleError("users:\n  alice:\n"))
        #expect(emptyAccount.code == .missingKey)
        #expect(emptyAccount.location?.line == 2)
    }

    @Test("wrong shapes")
    func wrongTypes() throws {
        let list = try #require(singleError("users:\n  - alice\n"))
        #expect(list.code == .wrongType)
        #expect(list.key == "users")
        #expect(list.location?.line == 2)

        let scalarAccount = try #require(singleError("users:\n  alice: \"\(Self.bcrypt)\"\n"))
        #expect(scalarAccount.code == .wrongType)
        #expect(scalarAccount.key == "users.alice")

        let groupsMapping = try #require(singleError(alice("groups:\n  a: b")))
        #expect(groupsMapping.code == .wrongType)
        #expect(groupsMapping.location?.line == 5)
    }

    // MARK: Names

    @Test(
        "user names: printable ASCII, no space, colon or comma, 1 to 128 bytes",
        arguments: [
            "\"bob smith\"", "\"a:b\"", "\"a,b\"", "\"\"", "\"caf\u{e9}\"", "\"tab\\there\"",
            "\"" + String(repeating: "x", count: 129) + "\"",
        ])
    func badNames(name: String) throws {
        let error = try #require(
            singleError(
                "users:\n  ok:\n    password: \"\(Self.bcrypt)\"\n  \(name):\n    password: \"\(Self.bcrypt)\"\n"))
        #expect(error.code == .invalidValue)
        #expect(error.location?.line == 4)
        #expect(error.message.hasPrefix("user names must be 1 to 128 bytes of printable ASCII"))
    }

    @Test("a 128-byte name is fine")
    func longestName() throws {
        let name = String(repeating: "x", count: 128)
        #expect(try #require(users("users:\n  \(name):\n    password: \"\(Self.bcrypt)\"\n")).users[0].name == name)
    }

    @Test("a name defined twice is an error pointing at both lines")
    func duplicateNames() throws {
        let yaml = """
            users:
              alice:
                password: "\(Self.bcrypt)"
              bob:
                password: "\(Self.bcrypt)"
              alice:
                password: "\(Self.yescrypt)"
            """
        let error = try #require(singleError(yaml))
        #expect(error.code == .duplicateName)
        #expect(error.location?.line == 6)
        #expect(error.description == "users.yaml:6: users.alice: user \"alice\" is defined twice; first at line 2")
    }

    // MARK: Password hashes

    @Test(
        "password values that are not bcrypt or yescrypt hashes",
        arguments: [
            ("hunter2", "not a password hash"),
            (
                "$6$9YAxrPVq7ChJ/gFQ$camVHpq9JRi8H.yBiVN7iWqv73M9siFPdKhAJ7KyoNYUpD4hTO2cjgdIwl3gTHPtklHWP/AlMIY9w",
                "SHA-512-crypt"
            ),
            ("$1$ddxXO7sW$ed1ayLDfCytDk4qcl.vUN0", "MD5-crypt"),
            ("$apr1$ddxXO7sW$ed1ayLDfCytDk4qcl.vUN0", "Apache MD5"),
            ("user:\(UsersFileTests.bcrypt)", "whole htpasswd line"),
            (String(UsersFileTests.bcrypt.dropLast()), "malformed bcrypt hash"),
            ("$2b$03$" + UsersFileTests.bcrypt.dropFirst(7), "cost 3 is out of range"),
            ("$2b$32$" + UsersFileTests.bcrypt.dropFirst(7), "cost 32 is out of range"),
            (String(UsersFileTests.yescrypt.dropLast(2)), "malformed yescrypt hash"),
            ("$y$$salt$" + String(repeating: "a", count: 43), "malformed yescrypt hash"),
            ("!", "locked-account marker"),
            ("$2b$05$ with a space", "printable ASCII without blanks"),
            ("", "empty"),
        ])
    func badHashes(value: String, reason: String) throws {
        let error = try #require(singleError("users:\n  alice:\n    password: '\(value)'\n"))
        #expect(error.code == .invalidValue)
        #expect(error.location?.line == 3)
        #expect(error.key == "users.alice.password")
        #expect(error.message.contains(reason), "\(error.message)")
        #expect(error.message.contains("gatehouse hash-password"))
        #expect(error.message.contains("htpasswd -nB"))
        #expect(error.message.contains("mkpasswd -m yescrypt"))
        if value.count > 3 {
            #expect(!error.description.contains(value), "the value must not be quoted")
        }
    }

    @Test("every supported prefix is accepted", arguments: ["$2a$", "$2b$", "$2y$"])
    func bcryptVariants(prefix: String) throws {
        let hash = prefix + Self.bcrypt.dropFirst(4)
        #expect(try #require(users("users:\n  alice:\n    password: \"\(hash)\"\n")).users[0].passwordHash == hash)
    }

    // MARK: Other values

    @Test(
        "bad optional values",
        arguments: [
            ("email: not-an-address", "e-mail address"),
            ("email: \"a@b@c\"", "e-mail address"),
            ("email: \"a b@example.com\"", "blanks"),
            ("groups: [\"ops\\nadmin\"]", "control characters"),
            ("groups: [\" admin\"]", "start or end with a blank"),
            ("groups: [a, a]", "listed twice"),
            ("groups: [\"\"]", "empty string"),
            ("name: \"Alice\\u0007\"", "control characters"),
            ("name: \"Alice\\u0085\"", "control characters"),
            ("disabled: yes", "write true"),
            ("disabled: 1", "true or false"),
        ])
    func badValues(body: String, reason: String) throws {
        let error = try #require(singleError(alice(body)))
        #expect(error.code == .invalidValue)
        #expect(error.location?.line == 4)
        #expect(error.message.contains(reason), "\(error.message)")
    }

    // MARK: Whole-file problems

    @Test("every problem is reported at once, in file order")
    func allErrorsCollected() {
        let yaml = """
            users:
              alice:
                password: hunter2
              "bad name":
                password: "\(Self.bcrypt)"
              carol:
                password: "\(Self.bcrypt)"
                disabled: maybe
              dave:
                pasword: "\(Self.bcrypt)"
            """
        let found = errors(yaml)
        #expect(found.map(\.location?.line) == [3, 4, 8, 10, 10])
        #expect(found.map(\.code) == [.invalidValue, .invalidValue, .invalidValue, .unknownKey, .missingKey])
        #expect(found.allSatisfy { $0.location?.file == "users.yaml" })
    }

    @Test("YAML syntax errors carry a line")
    func syntaxError() throws {
        let error = try #require(singleError("users:\n  alice:\n    password: \"unterminated\n"))
        #expect(error.code == .syntax)
        #expect(error.location != nil)
    }

    @Test("an empty file is an error", arguments: ["", "# nothing here\n"])
    func emptyFile(yaml: String) throws {
        let error = try #require(singleError(yaml))
        #expect(error.code == .emptyFile)
        #expect(error.description.hasPrefix("users.yaml:1: "))
    }

    @Test("the repository's Config/users.yaml loads")
    func repositoryUsersFile() throws {
        let path = ConfigFixtures.repositoryRoot.appendingPathComponent("Config/users.yaml").path
        let file = try UsersFileLoader.load(path: path)
        #expect(!file.users.isEmpty)
    }

    @Test("load reads a file, and reports a missing one")
    func loadFromDisk() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("users-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("users.yaml").path
        try Data("users:\n  alice:\n    password: \"\(Self.bcrypt)\"\n".utf8).write(to: URL(fileURLWithPath: path))
        let file = try UsersFileLoader.load(path: path)
        #expect(file.users.map(\.name) == ["alice"])
        #expect(file.sourcePath == path)

        do {
            _ = try UsersFileLoader.load(path: path + ".missing")
            Issue.record("a missing file loaded")
        } catch {
            #expect(error.errors.map(\.code) == [.unreadable])
            #expect(error.description.contains("no such file"))
        }
        do {
            _ = try UsersFileLoader.load(path: directory.path)
            Issue.record("a directory loaded")
        } catch {
            #expect(error.description.contains("it is a directory"))
        }
    }

    // MARK: Expensive hashes (check-config warnings)

    @Test("the cost estimate follows the figures measured for bcrypt and yescrypt")
    func costEstimates() throws {
        let salt = String(repeating: "a", count: 53)
        #expect(HashCost.estimate("$2y$12$" + salt)?.milliseconds == 180)
        #expect(HashCost.estimate("$2b$13$" + salt)?.milliseconds == 360)
        #expect(HashCost.estimate("$2a$10$" + salt)?.milliseconds == 45)
        #expect(HashCost.estimate(Self.yescrypt)?.milliseconds == 18)
        let heavy = try #require(HashCost.estimate("$y$jDT$" + String(repeating: "a", count: 22) + "$" + String(repeating: "b", count: 43)))
        #expect(heavy.milliseconds == 288)  // N = 2^16, r = 32: 16 times the default's work
        #expect(heavy.what.contains("256 MiB"))
        // Optional yescrypt parameters are not read: no estimate, no warning.
        #expect(HashCost.estimate("$y$j9T.....$salt$" + String(repeating: "b", count: 43)) == nil)
    }

    @Test("a hash that allows fewer than 8 sign-ins per second at the configured threads is named with its line")
    func expensiveHashWarnings() throws {
        let salt = String(repeating: "a", count: 53)
        let yescrypt256MiB = "$y$jDT$" + String(repeating: "a", count: 22) + "$" + String(repeating: "b", count: 43)
        let file = try #require(users("""
            users:
              cheap:
                password: "\(Self.bcrypt)"
              default:
                password: "$2b$12$\(salt)"
              slow:
                password: "$2y$13$\(salt)"
              yes:
                password: "\(Self.yescrypt)"
              heavy:
                password: "\(yescrypt256MiB)"
            """))
        let two = HashCost.warnings(file, hashThreads: 2)
        #expect(two.count == 2, "\(two)")
        #expect(two.first?.hasPrefix("users.yaml:6: warning: users.slow.password: bcrypt cost 13 takes about 360 ms") == true)
        #expect(two.first?.contains("login.hash_threads: 2 at most 5.6 sign-ins per second") == true)
        #expect(two.last?.hasPrefix("users.yaml:10: warning: users.heavy.password: yescrypt $y$jDT$") == true)
        #expect(!two.joined().contains(Self.yescrypt) && !two.joined().contains(salt), "never quote a hash")
        // One thread: the default cost 12 gives 5.6 per second too. Four threads: cost 13 keeps up.
        #expect(HashCost.warnings(file, hashThreads: 1).map { $0.prefix(14) } == ["users.yaml:4: ", "users.yaml:6: ", "users.yaml:10:"])
        #expect(HashCost.warnings(file, hashThreads: 4).isEmpty)
    }
}

