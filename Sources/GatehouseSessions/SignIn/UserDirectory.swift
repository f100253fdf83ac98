/// One person who may sign in with the gateway's own form, as the users file describes them.
package struct UserAccount: Sendable, Equatable {
    /// The sign-in name and the session's `sub`; matched byte for byte.
    package let name: String
    /// A bcrypt or yescrypt hash (`PasswordHash`).
    package let passwordHash: String
    package let email: String?
    package let groups: [String]
    package let displayName: String?
    /// A disabled account cannot sign in, and its sessions end at the reload that disables it.
    package let disabled: Bool
    /// The TOTP secret (users file `totp_secret`): with one, a password alone never signs this user in.
    package var totpSecret: [UInt8]? = nil

    package init(
        name: String, passwordHash: String, email: String? = nil, groups: [String] = [], displayName: String? = nil,
        disabled: Bool = false
    ) {
        self.name = name
        self.passwordHash = passwordHash
        self.email = email
        self.groups = groups
        self.displayName = displayName
        self.disabled = disabled
    }
}

/// The accounts of one users file, immutable: a reload builds a new directory and swaps it in whole.
package final class UserDirectory: Sendable {
    /// Keyed by the name's UTF-8 bytes, not by `String`: Swift's `==` follows Unicode canonical equivalence,
    /// under which "\u{212A}ate" (KELVIN SIGN) equals "Kate". Sign-in names must match exactly.
    private let accounts: [[UInt8]: UserAccount]
    /// Checked when the name is unknown, so that costs as much as a wrong password (`PasswordHash.dummy`).
    package let dummyHash: String

    /// Builds the directory; a name given twice keeps its first account (the users file refuses duplicates).
    /// Makes one hash for `dummyHash`, so build it off the event loops.
    package init(accounts: [UserAccount]) {
        var byName: [[UInt8]: UserAccount] = [:]
        for account in accounts where byName[Array(account.name.utf8)] == nil {
            byName[Array(account.name.utf8)] = account
        }
        self.accounts = byName
        dummyHash = PasswordHash.dummy(matching: accounts.map(\.passwordHash))
    }

    /// The account called exactly `name` (case-sensitive, byte for byte), disabled or not.
    package func account(named name: String) -> UserAccount? {
        accounts[Array(name.utf8)]
    }

    package var count: Int { accounts.count }

    /// Every account, sorted by name (byte order): the admin page's user list.
    package var allAccounts: [UserAccount] {
        accounts.values.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// The users of `old` whose sessions must end now that this directory replaces it: removed, disabled,
    /// or given a new password hash or TOTP secret (a reset must sign out the old holder). Sorted by name.
    ///
    /// Changed groups, e-mail or display name do not end sessions; they apply from the next sign-in.
    package func diff(from old: UserDirectory) -> [String] {
        var ended: [String] = []
        for (key, previous) in old.accounts {
            // A new or removed TOTP secret is a re-enrolment: sessions signed in under the old one end too.
            let stillValid = accounts[key].map {
                !$0.disabled && $0.passwordHash == previous.passwordHash && $0.totpSecret == previous.totpSecret
            } ?? false
            if !stillValid { ended.append(previous.name) }
        }
        return ended.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
