import Foundation
import GatehouseConfig
import Testing

/// `UsersFileEditor.setting`: one line changes, the rest of the text stays byte for byte, and anything that a
/// one-line edit cannot do safely is refused.
@Suite("Users file editor (totp enroll --write)")
struct UsersFileEditorTests {
    static let text = """
        users:
          # the admin
          alice:
            password: "$2y$05$x"   # bcrypt
            totp_secret: OLDOLDOLD
          bob:
              password: "$2y$05$y"
        """

    @Test("Replaces an existing key's line, keeping its indentation")
    func replaces() throws {
        let edited = try UsersFileEditor.setting("totp_secret", to: "NEWNEW", user: "alice", in: Self.text, path: "u.yaml")
        #expect(edited == Self.text.replacingOccurrences(of: "totp_secret: OLDOLDOLD", with: "totp_secret: NEWNEW"))
    }

    @Test("Inserts after the user's name with the indentation of its first key")
    func inserts() throws {
        let edited = try UsersFileEditor.setting("totp_secret", to: "ABC", user: "bob", in: Self.text, path: "u.yaml")
        #expect(edited == Self.text.replacingOccurrences(of: "  bob:\n", with: "  bob:\n      totp_secret: ABC\n"))
    }

    @Test("CRLF files stay CRLF")
    func crlf() throws {
        let text = "users:\r\n  alice:\r\n    password: x\r\n"
        let edited = try UsersFileEditor.setting("totp_secret", to: "ABC", user: "alice", in: text, path: "u.yaml")
        #expect(edited == "users:\r\n  alice:\r\n    totp_secret: ABC\r\n    password: x\r\n")
    }

    @Test("Refused: a missing user, a flow-style account, a multi-line value, no users mapping, bad YAML")
    func refusals() {
        let cases = [
            ("carol", Self.text, "has no user \"carol\""),
            ("alice", "users:\n  alice: {password: x}\n", "by hand"),
            ("alice", "users:\n  alice:\n    totp_secret: |\n      OLD\n      MORE\n    password: x\n", "by hand"),
            ("alice", "accounts:\n  alice:\n    password: x\n", "expected a \"users\" mapping"),
            ("alice", "users: [\n", "not valid YAML"),
        ]
        for (user, text, message) in cases {
            do {
                _ = try UsersFileEditor.setting("totp_secret", to: "ABC", user: user, in: text, path: "u.yaml")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.description.contains(message), "\(error)")
            }
        }
    }

    @Test("A user whose keys share the name's line (flow) or that has none is refused")
    func emptyAccount() {
        #expect(throws: UsersFileEditor.EditError.self) {
            try UsersFileEditor.setting("totp_secret", to: "ABC", user: "alice", in: "users:\n  alice:\n", path: "u.yaml")
        }
    }
}

extension UsersFileEditorTests {
    @Test("A flow mapping spread over lines is refused by the re-parse check")
    func multiLineFlow() {
        let text = "users:\n  alice: {\n    password: x }\n"
        #expect(throws: UsersFileEditor.EditError.self) {
            try UsersFileEditor.setting("totp_secret", to: "ABC", user: "alice", in: text, path: "u.yaml")
        }
    }
}
