import Foundation
import Yams

/// One account of the users file, validated, with the line it starts on.
package struct UserEntry: Sendable, Equatable {
    /// 1–128 bytes of printable ASCII other than space, `:` and `,`.
    package let name: String
    /// A bcrypt (`$2a$`, `$2b$`, `$2y$`) or yescrypt (`$y$`) hash, checked for shape only here; GatehouseSessions
    /// asks libcrypt when the file is loaded for use.
    package let passwordHash: String
    package let email: String?
    package let groups: [String]
    package let displayName: String?
    package let disabled: Bool
    /// The line of the user's name in the file.
    package let line: Int
    /// The TOTP secret (`totp_secret`, or read from `totp_secret_file`), decoded from base32; nil: no second
    /// factor enrolled.
    package var totpSecret: [UInt8]? = nil

    package init(
        name: String, passwordHash: String, email: String?, groups: [String], displayName: String?, disabled: Bool,
        line: Int
    ) {
        self.name = name
        self.passwordHash = passwordHash
        self.email = email
        self.groups = groups
        self.displayName = displayName
        self.disabled = disabled
        self.line = line
    }
}

/// The users file (`login.users_file`): the accounts of the gateway's own sign-in, in file order.
package struct UsersFile: Sendable, Equatable {
    package let users: [UserEntry]
    /// The path as given to the loader, shown in every error.
    package let sourcePath: String

    package init(users: [UserEntry], sourcePath: String) {
        self.users = users
        self.sourcePath = sourcePath
    }
}

/// Reads and validates a users file with the main configuration's machinery: every problem is collected and
/// reported as `file:line: key: problem`, and unknown keys get a "did you mean" suggestion.
///
/// ```yaml
/// users:
///   alice:
///     password: "$2b$12$..."     # required: bcrypt or yescrypt
///     email: alice@example.com   # optional
///     groups: [staff, admins]    # optional
///     name: "Alice Liddell"      # optional display name
///     disabled: false            # optional
///     totp_secret: JBSWY3DPEHPK3PXP...   # optional: base32, at least 80 bits (or totp_secret_file: path)
/// ```
///
/// Error messages never quote a `password` value: a plain password pasted there by mistake must not end up
/// in a log.
package enum UsersFileLoader {
    static let rootKeys = ["users"]
    static let userKeys = ["password", "email", "groups", "name", "disabled", "totp_secret", "totp_secret_file"]
    static let maximumNameBytes = 128
    static let maximumTextBytes = 256
    static let maximumEmailBytes = 254

    /// How to make a hash, appended to every password problem.
    static let hashHowTo =
        "expected a bcrypt ($2b$, $2y$, $2a$) or yescrypt ($y$) hash; make one with `gatehouse hash-password`, "
        + "`htpasswd -nB user` (the part after the colon) or `mkpasswd -m yescrypt`"

    /// Reads, parses and validates a users file.
    /// - Throws: ``ConfigErrors`` with every problem: unreadable file, YAML syntax, schema and values.
    package static func load(path: String) throws(ConfigErrors) -> UsersFile {
        switch ConfigLoader.readFile(path) {
        case .parsed(let text):
            return try parse(yaml: text, path: path)
        case .invalid(let reason):
            throw ConfigErrors(errors: [ConfigError(code: .unreadable, location: nil, key: "", message: reason)])
        }
    }

    /// Parses and validates users-file text; `path` is what errors and `sourcePath` show.
    /// - Throws: ``ConfigErrors`` with every problem found, in file order.
    package static func parse(yaml: String, path: String) throws(ConfigErrors) -> UsersFile {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigErrors(errors: [ConfigLoader.syntaxError(error, path: path)])
        }
        guard let root, !ConfigReader.isNull(root) else {
            let message = "the file holds no users; it needs a \"users\" mapping (\"users: {}\" for none)"
            let location = SourceLocation(file: path, line: 1, column: 1)
            throw ConfigErrors(errors: [ConfigError(code: .emptyFile, location: location, key: "", message: message)])
        }
        let reader = ConfigReader(file: path)
        let users = read(root, reader: reader)
        if !reader.errors.isEmpty {
            throw ConfigErrors(errors: ConfigLoader.sortedByLocation(reader.errors))
        }
        guard let users else {
            // Every reader reports before returning nil; reaching this is a bug here, reported, not a crash.
            let message = "internal error: the users file was refused without a reason"
            throw ConfigErrors(errors: [ConfigError(code: .invalidValue, location: nil, key: "", message: message)])
        }
        return UsersFile(users: users, sourcePath: path)
    }

    // MARK: Schema

    private static func read(_ root: Node, reader: ConfigReader) -> [UserEntry]? {
        guard let fields = reader.fields(of: root, path: "", allowed: rootKeys, near: reader.location(of: root))
        else { return nil }
        guard fields.entries["users"] != nil else {
            _ = reader.required(fields, "users")
            return nil
        }
        // `users:` with every account commented out is an empty directory, like `users: {}`.
        guard let usersNode = fields.value("users") else { return [] }
        guard case .mapping(let mapping) = usersNode else {
            reader.report(
                .wrongType, at: usersNode, key: "users",
                "expected a mapping of user name to account, got \(ConfigReader.describe(usersNode))")
            return nil
        }
        var users: [UserEntry] = []
        var firstLine: [[UInt8]: Int] = [:]
        var valid = true
        for (keyNode, value) in mapping {
            guard let name = userName(keyNode, reader: reader) else {
                valid = false
                continue
            }
            let line = keyNode.mark?.line ?? 0
            // Bytes, not String: names are compared byte for byte at sign-in.
            if let first = firstLine[Array(name.utf8)] {
                reader.report(
                    .duplicateName, at: keyNode, key: "users.\(name)",
                    "user \"\(name)\" is defined twice; first at line \(first)")
                valid = false
                continue
            }
            firstLine[Array(name.utf8)] = line
            if let user = account(name, line: line, keyNode: keyNode, value: value, reader: reader) {
                users.append(user)
            } else {
                valid = false
            }
        }
        return valid ? users : nil
    }

    /// The text of a user-name key, if it is a valid name (reported otherwise).
    private static func userName(_ keyNode: Node, reader: ConfigReader) -> String? {
        guard case .scalar(let scalar) = keyNode, !ConfigReader.isNull(keyNode) else {
            reader.report(
                .wrongType, at: keyNode, key: "users",
                "user names must be strings, got \(ConfigReader.describe(keyNode))")
            return nil
        }
        if scalar.string == "<<" && scalar.style == .plain {
            reader.report(
                .unknownKey, at: keyNode, key: "users.<<", "YAML merge keys (<<) are not supported; write the keys out")
            return nil
        }
        if let problem = nameProblem(scalar.string) {
            reader.report(.invalidValue, at: keyNode, key: "users", problem)
            return nil
        }
        return scalar.string
    }

    /// Why `name` cannot be a user name, or `nil`.
    package static func nameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        let rule = "user names must be 1 to \(maximumNameBytes) bytes of printable ASCII without spaces, \":\" or \",\""
        guard !bytes.isEmpty else { return rule + ", got an empty name" }
        guard bytes.count <= maximumNameBytes else { return rule + ", got \(bytes.count) bytes" }
        guard bytes.allSatisfy({ (0x21...0x7e).contains($0) && $0 != UInt8(ascii: ":") && $0 != UInt8(ascii: ",") })
        else {
            // Quoted through `debugDescription` so a control character shows as an escape, not as itself.
            return rule + ", got \(name.debugDescription)"
        }
        return nil
    }

    /// Reads one account mapping.
    private static func account(
        _ name: String, line: Int, keyNode: Node, value: Node, reader: ConfigReader
    ) -> UserEntry? {
        let path = "users.\(name)"
        guard !ConfigReader.isNull(value) else {
            reader.report(.missingKey, at: keyNode, key: path, "the account needs at least a \"password\"")
            return nil
        }
        guard let fields = reader.fields(of: value, path: path, allowed: userKeys, near: reader.location(of: keyNode))
        else { return nil }
        var valid = true
        let password = reader.required(fields, "password").flatMap { node in
            reader.parse(node, path: fields.path("password"), expected: "a password hash", with: checkPasswordHash)
        }
        valid = valid && password != nil
        var email: String?
        if let node = fields.value("email") {
            email = reader.parse(node, path: fields.path("email"), expected: "an e-mail address", with: checkEmail)
            valid = valid && email != nil
        }
        var groups: [String] = []
        if let node = fields.value("groups") {
            if let read = readGroups(node, path: fields.path("groups"), reader: reader) {
                groups = read
            } else {
                valid = false
            }
        }
        var displayName: String?
        if let node = fields.value("name") {
            displayName = reader.parse(node, path: fields.path("name"), expected: "a display name") { text in
                textProblem(text, what: "a display name").map(ParseOutcome.invalid) ?? .parsed(text)
            }
            valid = valid && displayName != nil
        }
        var disabled = false
        if let node = fields.value("disabled") {
            if let flag = reader.boolean(node, path: fields.path("disabled")) {
                disabled = flag
            } else {
                valid = false
            }
        }
        let totpSecret = readTOTPSecret(fields, reader: reader)
        guard valid, let password, let totpSecret else { return nil }
        var entry = UserEntry(
            name: name, passwordHash: password, email: email, groups: groups, displayName: displayName,
            disabled: disabled, line: line)
        entry.totpSecret = totpSecret
        return entry
    }

    /// `totp_secret` (base32 text) or `totp_secret_file` (a file holding that text; surrounding blanks and newlines
    /// are ignored), at most one of them. `.some(nil)`: no second factor; `nil`: a problem was reported. Messages
    /// name the user and the key, never the secret.
    private static func readTOTPSecret(_ fields: YAMLFields, reader: ConfigReader) -> [UInt8]?? {
        let inline = fields.value("totp_secret")
        let file = fields.value("totp_secret_file")
        if inline != nil, let fileNode = file {
            reader.report(.invalidValue, at: fileNode, key: fields.path("totp_secret_file"),
                          "give totp_secret or totp_secret_file, not both")
            return nil
        }
        if let node = inline {
            let path = fields.path("totp_secret")
            guard let text = reader.text(node, path: path, expected: "a base32 TOTP secret") else { return nil }
            switch TOTPSecretText.decode(text) {
            case .success(let bytes): return .some(bytes)
            case .failure(let problem):
                reader.report(.invalidValue, at: node, key: path, problem.message)
                return nil
            }
        }
        guard let node = file else { return .some(nil) }
        let path = fields.path("totp_secret_file")
        guard let secretPath = reader.filePath(node, path: path) else { return nil }
        switch ConfigLoader.readFile(secretPath) {
        case .invalid(let reason):
            reader.report(.unreadable, at: node, key: path, reason)
            return nil
        case .parsed(let text):
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            switch TOTPSecretText.decode(trimmed) {
            case .success(let bytes): return .some(bytes)
            case .failure(let problem):
                reader.report(.invalidValue, at: node, key: path, "\(secretPath): " + problem.message)
                return nil
            }
        }
    }

    /// `groups`: a list (possibly empty) or a single string.
    private static func readGroups(_ node: Node, path: String, reader: ConfigReader) -> [String]? {
        if case .sequence(let sequence) = node, sequence.isEmpty { return [] }
        return reader.strings(
            node, path: path, one: "a group name", many: "group names", empty: "an empty list",
            check: { textProblem($0, what: "a group name") })
    }

    // MARK: Values

    /// Why `text` cannot be a group or display name: these reach identity headers, so no control characters
    /// (a newline would split a header), no edge blanks (a receiver that trims would see another name), and a
    /// bounded length. Commas are fine: list headers are encoded so one value cannot become two.
    static func textProblem(_ text: String, what: String) -> String? {
        if text.isEmpty { return "expected \(what), got an empty string" }
        if text.utf8.count > maximumTextBytes { return "\(what) must be at most \(maximumTextBytes) bytes" }
        if text.unicodeScalars.contains(where: isControl) {
            return "\(what) must not contain control characters (newline, tab, ...), got \(text.debugDescription)"
        }
        if let first = text.unicodeScalars.first, let last = text.unicodeScalars.last,
            first.properties.isWhitespace || last.properties.isWhitespace
        {
            return "\(what) must not start or end with a blank, got \(text.debugDescription)"
        }
        return nil
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
    }

    /// An e-mail address: text, one `@`, text; no blanks or control characters.
    static func checkEmail(_ text: String) -> ParseOutcome<String> {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            return .invalid("expected an e-mail address such as alice@example.com, got \(text.debugDescription)")
        }
        guard text.utf8.count <= maximumEmailBytes else {
            return .invalid("an e-mail address must be at most \(maximumEmailBytes) bytes")
        }
        guard !text.unicodeScalars.contains(where: { isControl($0) || $0.properties.isWhitespace }) else {
            return .invalid(
                "an e-mail address must not contain blanks or control characters, got \(text.debugDescription)")
        }
        return .parsed(text)
    }

    /// The shape of a bcrypt or yescrypt hash (libcrypt checks the rest when the file is put to use). Never
    /// quotes the value.
    static func checkPasswordHash(_ text: String) -> ParseOutcome<String> {
        let bytes = Array(text.utf8)
        if bytes.isEmpty {
            return .invalid("the password hash is empty; " + hashHowTo)
        }
        if !bytes.allSatisfy({ (0x21...0x7e).contains($0) }) {
            return .invalid("a password hash is printable ASCII without blanks; " + hashHowTo)
        }
        for variant in ["$2a$", "$2b$", "$2y$"] where text.hasPrefix(variant) {
            let cost = bytes.count >= 6 ? Int(String(decoding: bytes[4..<6], as: UTF8.self)) : nil
            guard bytes.count == 60, bytes[6] == UInt8(ascii: "$"), let cost, bytes[4..<6].allSatisfy(isDigit),
                bytes[7...].allSatisfy(isCryptBase64)
            else {
                return .invalid(
                    "malformed bcrypt hash: expected 60 characters, \(variant)NN$ then 53 of [./0-9A-Za-z] "
                        + "(was it cut short?); " + hashHowTo)
            }
            guard (4...31).contains(cost) else {
                return .invalid("bcrypt cost \(cost) is out of range (4 to 31); " + hashHowTo)
            }
            return .parsed(text)
        }
        if text.hasPrefix("$y$") {
            let fields = bytes[3...].split(separator: UInt8(ascii: "$"), omittingEmptySubsequences: false)
            guard fields.count == 3, !fields[0].isEmpty, fields[2].count == 43,
                fields.allSatisfy({ $0.allSatisfy(isCryptBase64) })
            else {
                return .invalid(
                    "malformed yescrypt hash: expected $y$<parameters>$<salt>$ then 43 of [./0-9A-Za-z] "
                        + "(was it cut short?); " + hashHowTo)
            }
            return .parsed(text)
        }
        return .invalid(unsupportedHashReason(text) + "; " + hashHowTo)
    }

    /// What an unsupported value looks like, without quoting it.
    private static func unsupportedHashReason(_ text: String) -> String {
        let known: [(prefix: String, name: String)] = [
            ("$1$", "MD5-crypt"), ("$apr1$", "Apache MD5"), ("$5$", "SHA-256-crypt"), ("$6$", "SHA-512-crypt"),
            ("$7$", "scrypt"), ("$gy$", "GOST yescrypt"), ("$sha1$", "SHA-1-crypt"), ("$md5", "SunMD5"),
            ("{SHA}", "unsalted SHA-1"), ("{SSHA}", "salted SHA-1"),
        ]
        if let scheme = known.first(where: { text.hasPrefix($0.prefix) }) {
            return "\(scheme.name) hashes (\(scheme.prefix)) are not accepted"
        }
        if text.contains(":$2") || text.contains(":$y$") {
            return "this looks like a whole htpasswd line; keep only the hash after the colon"
        }
        if text.hasPrefix("!") || text.hasPrefix("*") {
            return "a locked-account marker is not a hash; use \"disabled: true\" to lock an account"
        }
        if text.hasPrefix("$") {
            return "unsupported hash scheme"
        }
        return "this is not a password hash (a plain password must never be stored here)"
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// The `./0-9A-Za-z` alphabet of crypt's base64.
    private static func isCryptBase64(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
            return true
        default:
            return false
        }
    }
}

/// How long one password check of a users-file hash takes, estimated from its parameters (never by hashing:
/// `check-config` stays fast whatever the cost), and the warning for hashes so slow that sign-ins queue.
///
/// The figures are one hash of each cost measured with libxcrypt on a 2-core x86-64 server (2026-12): bcrypt
/// cost 12 took 180 ms (each step doubles it: 13 took 356 ms, 14 took 693 ms); yescrypt at libxcrypt's default
/// `j9T` (N = 2¹², r = 32, 16 MiB) took 18 ms, and time grows with N·r (`jDT`, 256 MiB: 265 ms).
package enum HashCost {
    /// Below this many sign-ins per second (hash threads ÷ seconds per check) a burst of sign-ins queues.
    package static let minimumSignInsPerSecond = 8.0
    static let bcryptCost12Milliseconds = 180.0
    static let yescryptDefaultMilliseconds = 18.0
    /// N·r of libxcrypt's default yescrypt parameters.
    static let yescryptDefaultWork = Double(1 << 12) * 32

    /// The estimated time of one check of `hash`, and a name for its scheme and cost; `nil` for a parameter
    /// field this estimate does not read (yescrypt with optional parameters).
    package static func estimate(_ hash: String) -> (milliseconds: Double, what: String)? {
        let bytes = Array(hash.utf8)
        if hash.hasPrefix("$2"), bytes.count >= 7, let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)) {
            return (bcryptCost12Milliseconds * pow(2, Double(cost - 12)), "bcrypt cost \(cost)")
        }
        guard hash.hasPrefix("$y$") else { return nil }
        // `$y$` then flavour, log2(N) − 1 and r − 1, one crypt-base64 character each (`j9T`: N = 2¹², r = 32).
        let parameters = bytes[3...].prefix { $0 != UInt8(ascii: "$") }
        guard parameters.count == 3, let nLog2 = cryptBase64Value(parameters[parameters.startIndex + 1]),
            let r = cryptBase64Value(parameters[parameters.startIndex + 2])
        else { return nil }
        let work = pow(2, Double(nLog2 + 1)) * Double(r + 1)
        let mebibytes = Int(work * 128 / Double(1 << 20))
        let setting = String(decoding: parameters, as: UTF8.self)
        return (yescryptDefaultMilliseconds * work / yescryptDefaultWork, "yescrypt $y$\(setting)$ (\(mebibytes) MiB)")
    }

    /// Values below 47 of crypt's base64 (`./0-9A-Za-z` = 0…63): the one-character encodings yescrypt uses.
    private static func cryptBase64Value(_ byte: UInt8) -> Int? {
        let value: Int
        switch byte {
        case UInt8(ascii: "."): value = 0
        case UInt8(ascii: "/"): value = 1
        case UInt8(ascii: "0")...UInt8(ascii: "9"): value = Int(byte - UInt8(ascii: "0")) + 2
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = Int(byte - UInt8(ascii: "A")) + 12
        case UInt8(ascii: "a")...UInt8(ascii: "z"): value = Int(byte - UInt8(ascii: "a")) + 38
        default: return nil
        }
        return value < 47 ? value : nil
    }

    /// One `file:line: warning: ...` per user whose hash allows fewer than ``minimumSignInsPerSecond`` sign-ins
    /// per second with `hashThreads` hashing threads (`login.hash_threads`), in file order.
    package static func warnings(_ file: UsersFile, hashThreads: Int) -> [String] {
        file.users.compactMap { user in
            guard let (milliseconds, what) = estimate(user.passwordHash) else { return nil }
            let perSecond = Double(hashThreads) * 1000 / milliseconds
            guard perSecond < minimumSignInsPerSecond else { return nil }
            return "\(file.sourcePath):\(user.line): warning: users.\(user.name).password: \(what) takes about "
                + "\(Int(milliseconds.rounded())) ms per check on a 2-core server, so with login.hash_threads: "
                + "\(hashThreads) at most \(String(format: "%.1f", perSecond)) sign-ins per second are checked and "
                + "more queue (a queued sign-in waits at most 10 s, then gets 503); use a cheaper hash (bcrypt cost "
                + "12, yescrypt's default) or more hash_threads on a machine with the cores for them"
        }
    }
}
