import GatehouseAuth
import GatehouseIO

/// Why a password hash could not be made (`gatehouse hash-password`).
package struct PasswordHashError: Error, Sendable, Equatable, CustomStringConvertible {
    package let reason: String

    package init(_ reason: String) {
        self.reason = reason
    }

    package var description: String { reason }
}

/// Password hashes in the crypt(3) formats that `htpasswd -B` and `mkpasswd` write, checked with the system's
/// libxcrypt (through GatehouseIO's `Crypt`: this file holds the formats and the policy, not the C calls).
///
/// Accepted: bcrypt (`$2b$`, `$2y$`, `$2a$`: three labels of one algorithm, `$2b$` current, `$2y$` from PHP
/// and htpasswd, `$2a$` older) and yescrypt (`$y$`). DES, MD5 (`$1$`, `$apr1$`), SHA-crypt (`$5$`, `$6$`) and
/// locked entries (`*`, `!...`) never verify: they are too cheap to brute-force if the file leaks.
///
/// Every call hashes, which takes tens to hundreds of milliseconds by design: call only from a
/// `BlockingPool` thread, never from an event loop.
///
/// bcrypt reads only the first 72 bytes of a password, so a longer one would match on its prefix (the 72 bytes
/// plus anything). Against a bcrypt hash a password over 72 bytes therefore never matches, and `make` refuses
/// to write a bcrypt hash of one. We refuse rather than pre-hash: pre-hashing would no longer match the hashes
/// `htpasswd -B` and `mkpasswd` write. yescrypt reads all of it.
package enum PasswordHash {
    /// Longer passwords are refused before hashing, at libxcrypt's own limit (`CRYPT_MAX_PASSPHRASE_SIZE` less
    /// the NUL: 511 bytes), which crypt would enforce anyway.
    package static let maximumPasswordLength = Crypt.maxPassphraseSize - 1
    /// The bcrypt cost `make` uses unless told otherwise (about 250 ms on a 2020s server core).
    package static let defaultBcryptCost = 12
    /// The bcrypt costs libxcrypt accepts.
    package static let bcryptCosts = 4...31
    /// The most bcrypt reads of a password; a longer one never matches a bcrypt hash.
    package static let bcryptMaximumPasswordLength = 72

    /// Which hash `make` writes.
    package enum Scheme: Sendable, Equatable {
        /// bcrypt with a cost in `bcryptCosts` (each step doubles the time); written as `$2b$`.
        case bcrypt(cost: Int)
        /// yescrypt with libxcrypt's default parameters (16 MiB of memory per check).
        case yescrypt
    }

    // MARK: Verifying

    /// Whether `password` matches `encoded`.
    ///
    /// Returns false, without hashing, for an unsupported or malformed `encoded` and for a password that
    /// holds a NUL byte (crypt(3) would silently cut it there) or exceeds `maximumPasswordLength`. Skipping
    /// the hash reveals nothing: the caller already knows what it sent, and the throttle still counts the
    /// failure.
    ///
    /// A password over 72 bytes never matches a bcrypt hash (bcrypt would compare only its first 72). It is
    /// hashed all the same, so the answer takes as long as a wrong password's: skipping it would tell, in a
    /// file that mixes schemes, a bcrypt user from an unknown one checked against a yescrypt dummy.
    package static func verify(_ password: [UInt8], against encoded: String) -> Bool {
        guard isAcceptablePassword(password), let parsed = parse(encoded),
            let computed = crypt(password, setting: encoded)
        else { return false }
        if case .bcrypt = parsed, password.count > bcryptMaximumPasswordLength { return false }
        return ConstantTime.equal(Array(computed.utf8), Array(encoded.utf8))
    }

    /// Whether `encoded` is a bcrypt or yescrypt hash that `verify` can check: the whole string has the
    /// format's shape, and libcrypt accepts its salt.
    ///
    /// For config validation, so it must stay cheap: the salt is tried at the lowest cost, never at the hash's
    /// own (a yescrypt or cost-31 bcrypt check per user would make a reload take minutes). A yescrypt
    /// parameter field is checked only for its alphabet; one libcrypt refuses makes `verify` return false.
    package static func isSupported(_ encoded: String) -> Bool {
        guard let parsed = parse(encoded) else { return false }
        // Same salt, cheapest setting; crypt rewrites a non-canonical salt, which could then never match.
        let probe: String
        switch parsed {
        case .bcrypt(let variant, _, let salt):
            probe = "\(variant)04$\(salt)"
        case .yescrypt(_, let salt):
            probe = "$y$\(cheapestYescryptParameters)$\(salt)$"
        }
        guard let output = crypt([], setting: probe) else { return false }
        return output.hasPrefix(probe)
    }

    // MARK: Making

    /// A new hash of `password` with a fresh salt from the OS CSPRNG.
    ///
    /// - Throws: `PasswordHashError` for an empty, over-long or NUL-holding password (over 72 bytes for bcrypt),
    ///   a bcrypt cost outside `bcryptCosts`, or a libcrypt failure.
    package static func make(
        _ password: [UInt8], scheme: Scheme = .bcrypt(cost: defaultBcryptCost)
    ) throws(PasswordHashError) -> String {
        guard !password.isEmpty else { throw PasswordHashError("the password is empty") }
        guard isAcceptablePassword(password) else {
            throw PasswordHashError(
                "the password must be at most \(maximumPasswordLength) bytes and must not contain a NUL byte")
        }
        let setting: String
        switch scheme {
        case .bcrypt(let cost):
            guard password.count <= bcryptMaximumPasswordLength else {
                throw PasswordHashError(
                    "the password has \(password.count) bytes; bcrypt reads only the first "
                        + "\(bcryptMaximumPasswordLength), so a longer one is refused (use a shorter one, or "
                        + "--scheme yescrypt)")
            }
            guard bcryptCosts.contains(cost) else {
                throw PasswordHashError(
                    "bcrypt cost \(cost) is out of range (\(bcryptCosts.lowerBound)..."
                        + "\(bcryptCosts.upperBound))")
            }
            setting = try freshSetting(prefix: "$2b$", count: cost)
        case .yescrypt:
            setting = try freshSetting(prefix: "$y$", count: 0)
        }
        guard let hash = crypt(password, setting: setting) else {
            throw PasswordHashError("libcrypt could not hash with the setting \(setting): \(Crypt.lastError)")
        }
        return hash
    }

    /// A hash of a random password at the cost most of `encoded` use, checked when the user name is unknown
    /// so that "no such user" takes as long as "wrong password".
    ///
    /// bcrypt entries count by cost (written back as `$2b$NN$`; the variants cost the same), yescrypt entries
    /// by their parameter field; ties go to the setting met first. With no usable entry: bcrypt cost 10.
    package static func dummy(matching encoded: [String]) -> String {
        var counts: [String: Int] = [:]
        var order: [String] = []
        for hash in encoded {
            guard let setting = parse(hash)?.costSetting else { continue }
            if counts[setting] == nil { order.append(setting) }
            counts[setting, default: 0] += 1
        }
        var chosen = "$2b$10$"
        var best = 0
        for setting in order where counts[setting]! > best {
            chosen = setting
            best = counts[setting]!
        }
        let password = randomPassword()
        if let hash = dummyHash(password, costSetting: chosen) { return hash }
        if let hash = try? make(password, scheme: .bcrypt(cost: 10)) { return hash }
        // Only reached when libcrypt cannot hash at all; then no password verifies and timing is moot.
        return "*"
    }

    // MARK: Formats

    /// The parts of a supported hash that matter here.
    private enum Parsed {
        /// `variant` is `$2a$`, `$2b$` or `$2y$`; `salt` the 22 salt characters.
        case bcrypt(variant: String, cost: Int, salt: String)
        case yescrypt(parameters: String, salt: String)

        /// The prefix that fixes the cost: what `dummy` groups by.
        var costSetting: String {
            switch self {
            case .bcrypt(_, let cost, _): return "$2b$" + (cost < 10 ? "0\(cost)" : "\(cost)") + "$"
            case .yescrypt(let parameters, _): return "$y$\(parameters)$"
            }
        }
    }

    /// What `crypt_gensalt("$y$", 1)` writes: yescrypt's cheapest standard parameters (about 1 ms).
    private static let cheapestYescryptParameters = "j75"

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

    /// Splits a bcrypt (`$2b$NN$` + 22 salt + 31 hash characters) or yescrypt (`$y$params$salt$` + 43 hash
    /// characters) hash; `nil` for anything else.
    private static func parse(_ encoded: String) -> Parsed? {
        let bytes = Array(encoded.utf8)
        for variant in ["$2a$", "$2b$", "$2y$"] where encoded.hasPrefix(variant) {
            guard bytes.count == 60, bytes[6] == UInt8(ascii: "$"),
                let tens = digit(bytes[4]), let ones = digit(bytes[5]), bcryptCosts.contains(tens * 10 + ones),
                bytes[7...].allSatisfy(isCryptBase64)
            else { return nil }
            let salt = String(decoding: bytes[7..<29], as: UTF8.self)
            return .bcrypt(variant: variant, cost: tens * 10 + ones, salt: salt)
        }
        guard encoded.hasPrefix("$y$") else { return nil }
        let fields = bytes[3...].split(separator: UInt8(ascii: "$"), omittingEmptySubsequences: false)
        guard fields.count == 3, !fields[0].isEmpty, fields[2].count == 43,
            fields.allSatisfy({ $0.allSatisfy(isCryptBase64) })
        else { return nil }
        return .yescrypt(
            parameters: String(decoding: fields[0], as: UTF8.self), salt: String(decoding: fields[1], as: UTF8.self))
    }

    private static func digit(_ byte: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
    }

    private static func isAcceptablePassword(_ password: [UInt8]) -> Bool {
        password.count <= maximumPasswordLength && !password.contains(0)
    }

    // MARK: libcrypt

    private static func crypt(_ password: [UInt8], setting: String) -> String? {
        Crypt.hash(password, setting: setting)
    }

    /// A setting with a fresh salt.
    private static func freshSetting(prefix: String, count: Int) throws(PasswordHashError) -> String {
        switch Crypt.gensalt(prefix: prefix, count: count) {
        case .success(let setting): return setting
        case .failure(let error): throw PasswordHashError("libcrypt could not make a \(prefix) salt: \(error)")
        }
    }

    /// Hashes `password` with a fresh salt under `costSetting` (`$2b$NN$` or `$y$params$`).
    private static func dummyHash(_ password: [UInt8], costSetting: String) -> String? {
        if costSetting.hasPrefix("$y$") {
            // gensalt knows only standard yescrypt costs; keep its salt and put the wanted parameters in front.
            guard let fresh = try? freshSetting(prefix: "$y$", count: 0),
                let salt = fresh.split(separator: "$", omittingEmptySubsequences: false).last
            else { return nil }
            return crypt(password, setting: costSetting + salt)
        }
        guard let cost = Int(costSetting.dropFirst(4).prefix(2)),
            let setting = try? freshSetting(prefix: "$2b$", count: cost)
        else { return nil }
        return crypt(password, setting: setting)
    }

    /// 32 random letters: long enough that no one can guess it, NUL-free by construction.
    private static func randomPassword() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8(ascii: "a") + UInt8.random(in: 0..<26, using: &generator) }
    }
}
