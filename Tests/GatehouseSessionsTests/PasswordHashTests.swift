import Foundation
import GatehouseTestSupport
import XCTest

@testable import GatehouseSessions

/// Hashes come from independent tools run at test time (`htpasswd` from apache2-utils, which has its own
/// bcrypt; `mkpasswd` from whois), so these tests check interoperability, not our code against itself.
final class PasswordHashTests: XCTestCase {
    // MARK: Tools

    /// Runs `tool` with `arguments` (and `input` on stdin); skips the test when the tool is not installed.
    private func run(_ tool: String, _ arguments: [String], input: [UInt8]? = nil) throws -> String {
        let path = "/usr/bin/\(tool)"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("\(tool) is not installed (apt-get install apache2-utils whois)")
        }
        let result = try runTool(path, arguments, input: input)
        XCTAssertEqual(result.status, 0, "\(tool) \(arguments) failed")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `htpasswd -nbB -C cost user password` prints `user:$2y$...`; the hash is after the colon.
    private func htpasswd(_ password: String, cost: Int = 5) throws -> String {
        let line = try run("htpasswd", ["-nbB", "-C", "\(cost)", "user", password])
        return String(line.drop { $0 != ":" }.dropFirst())
    }

    /// `mkpasswd -m method -s` reads the password from stdin, so any bytes (and any length) can go in.
    private func mkpasswd(_ password: [UInt8], method: String, rounds: Int? = nil) throws -> String {
        var arguments = ["-m", method, "-s"]
        if let rounds { arguments += ["-R", "\(rounds)"] }
        return try run("mkpasswd", arguments, input: password + [UInt8(ascii: "\n")])
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    // MARK: Verifying hashes made by other tools

    func testBcrypt2yFromHtpasswd() throws {
        let hash = try htpasswd("correct horse")
        XCTAssertTrue(hash.hasPrefix("$2y$05$"), hash)
        XCTAssertTrue(PasswordHash.verify(bytes("correct horse"), against: hash))
        XCTAssertFalse(PasswordHash.verify(bytes("correct horsE"), against: hash))
        XCTAssertFalse(PasswordHash.verify(bytes("correct hors"), against: hash))
        XCTAssertFalse(PasswordHash.verify([], against: hash))
        XCTAssertTrue(PasswordHash.isSupported(hash))
    }

    func testBcrypt2bAnd2aFromMkpasswd() throws {
        let b = try mkpasswd(bytes("s3cret"), method: "bcrypt", rounds: 5)
        let a = try mkpasswd(bytes("s3cret"), method: "bcrypt-a", rounds: 5)
        XCTAssertTrue(b.hasPrefix("$2b$05$"), b)
        XCTAssertTrue(a.hasPrefix("$2a$05$"), a)
        for hash in [a, b] {
            XCTAssertTrue(PasswordHash.verify(bytes("s3cret"), against: hash), hash)
            XCTAssertFalse(PasswordHash.verify(bytes("s3cres"), against: hash), hash)
            XCTAssertTrue(PasswordHash.isSupported(hash), hash)
        }
    }

    func testYescryptFromMkpasswd() throws {
        let hash = try mkpasswd(bytes("pässwörd"), method: "yescrypt")
        XCTAssertTrue(hash.hasPrefix("$y$"), hash)
        XCTAssertTrue(PasswordHash.verify(bytes("pässwörd"), against: hash))
        XCTAssertFalse(PasswordHash.verify(bytes("passwort"), against: hash))
        XCTAssertTrue(PasswordHash.isSupported(hash))
    }

    func testTruncatedOrEditedHashesDoNotVerify() throws {
        let hash = try htpasswd("pw")
        XCTAssertFalse(PasswordHash.verify(bytes("pw"), against: String(hash.dropLast())))
        XCTAssertFalse(PasswordHash.verify(bytes("pw"), against: hash + "x"))
        XCTAssertFalse(PasswordHash.isSupported(String(hash.dropLast())))
        // Same salt and digest at another cost: a different hash.
        let recosted = "$2y$06$" + hash.dropFirst(7)
        XCTAssertFalse(PasswordHash.verify(bytes("pw"), against: recosted))
    }

    func testNonCanonicalBcryptSaltIsNotSupported() throws {
        // The 22nd salt character carries 2 bits; libcrypt rewrites the others, so such a hash never matches.
        let hash = try htpasswd("pw")
        var characters = Array(hash)
        let alphabet = Array("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let index = alphabet.firstIndex(of: characters[28])!
        characters[28] = alphabet[index + 1]  // canonical ones sit at multiples of 16
        let edited = String(characters)
        XCTAssertFalse(PasswordHash.isSupported(edited))
        XCTAssertFalse(PasswordHash.verify(bytes("pw"), against: edited))
    }

    // MARK: Refused schemes and passwords

    func testUnsupportedSchemesNeverVerify() throws {
        for method in ["sha512crypt", "sha256crypt", "md5crypt", "descrypt", "scrypt", "gost-yescrypt"] {
            let hash = try mkpasswd(bytes("pw"), method: method)
            XCTAssertFalse(PasswordHash.verify(bytes("pw"), against: hash), "\(method): \(hash)")
            XCTAssertFalse(PasswordHash.isSupported(hash), "\(method): \(hash)")
        }
        let bcrypt = try htpasswd("pw")
        for locked in ["*", "!", "!" + bcrypt, "*" + bcrypt, "", "$2x$05$" + bcrypt.dropFirst(7), " " + bcrypt] {
            XCTAssertFalse(PasswordHash.verify(bytes("pw"), against: locked), locked)
            XCTAssertFalse(PasswordHash.isSupported(locked), locked)
        }
    }

    func testPasswordsWithNULAreRefused() throws {
        let hash = try htpasswd("pw")
        XCTAssertFalse(PasswordHash.verify([0x70, 0x77, 0x00], against: hash))
        XCTAssertFalse(PasswordHash.verify([0x70, 0x77, 0x00, 0x78], against: hash))
        XCTAssertThrowsError(try PasswordHash.make([0x70, 0x00, 0x77], scheme: .bcrypt(cost: 4)))
    }

    func testOverLongPasswordsAreRefused() throws {
        let atLimit = [UInt8](repeating: UInt8(ascii: "a"), count: PasswordHash.maximumPasswordLength)
        let atLimitHash = try mkpasswd(atLimit, method: "yescrypt")
        XCTAssertTrue(PasswordHash.verify(atLimit, against: atLimitHash))
        // libxcrypt (and so mkpasswd) cannot hash longer ones at all; they are refused before trying.
        let overLimit = atLimit + [UInt8(ascii: "a")]
        XCTAssertFalse(PasswordHash.verify(overLimit, against: atLimitHash))
        XCTAssertFalse(PasswordHash.verify(atLimit + atLimit + atLimit, against: atLimitHash))
        XCTAssertThrowsError(try PasswordHash.make(overLimit, scheme: .yescrypt))
        XCTAssertThrowsError(try PasswordHash.make(overLimit, scheme: .bcrypt(cost: 4)))
    }

    func testBcryptNeverMatchesOnASeventyTwoBytePrefix() throws {
        // bcrypt reads only 72 bytes: the 72-byte prefix plus anything would match; over 72 bytes never matches.
        let long = String(repeating: "x", count: 72)
        let hash = try htpasswd(long)
        XCTAssertTrue(PasswordHash.verify(bytes(long), against: hash))
        XCTAssertFalse(PasswordHash.verify(bytes(long + "x"), against: hash))
        XCTAssertFalse(PasswordHash.verify(bytes(long + "anything else"), against: hash))
        XCTAssertFalse(PasswordHash.verify(bytes(String(long.dropLast())), against: hash))
        // A hash htpasswd made of a longer password (it hashed only 72 bytes): nothing over 72 bytes matches it.
        let truncated = try htpasswd(long + "tail-one")
        XCTAssertFalse(PasswordHash.verify(bytes(long + "tail-one"), against: truncated))
        XCTAssertFalse(PasswordHash.verify(bytes(long + "tail-two"), against: truncated))
        // The same for the $2b$ and $2a$ labels; yescrypt reads the whole password and is not limited.
        for method in ["bcrypt", "bcrypt-a"] {
            let other = try mkpasswd(bytes(long), method: method, rounds: 5)
            XCTAssertTrue(PasswordHash.verify(bytes(long), against: other), other)
            XCTAssertFalse(PasswordHash.verify(bytes(long + "x"), against: other), other)
        }
        let yescrypt = try mkpasswd(bytes(long + "x"), method: "yescrypt")
        XCTAssertTrue(PasswordHash.verify(bytes(long + "x"), against: yescrypt))
        XCTAssertFalse(PasswordHash.verify(bytes(long + "y"), against: yescrypt))
    }

    func testMakeRefusesBcryptOfMoreThanSeventyTwoBytes() throws {
        let long = [UInt8](repeating: UInt8(ascii: "p"), count: 72)
        XCTAssertTrue(PasswordHash.verify(long, against: try PasswordHash.make(long, scheme: .bcrypt(cost: 4))))
        XCTAssertThrowsError(try PasswordHash.make(long + [0x70], scheme: .bcrypt(cost: 4))) { error in
            XCTAssertTrue("\(error)".contains("72"), "\(error)")
        }
        let yescrypt = try PasswordHash.make(long + [0x70], scheme: .yescrypt)
        XCTAssertTrue(PasswordHash.verify(long + [0x70], against: yescrypt))
    }

    // MARK: Making

    func testMakeThenVerifyBcrypt() throws {
        let hash = try PasswordHash.make(bytes("hunter2"), scheme: .bcrypt(cost: 4))
        XCTAssertTrue(hash.hasPrefix("$2b$04$"), hash)
        XCTAssertEqual(hash.utf8.count, 60)
        XCTAssertTrue(PasswordHash.isSupported(hash))
        XCTAssertTrue(PasswordHash.verify(bytes("hunter2"), against: hash))
        XCTAssertFalse(PasswordHash.verify(bytes("hunter3"), against: hash))
        // Fresh salt each time.
        XCTAssertNotEqual(hash, try PasswordHash.make(bytes("hunter2"), scheme: .bcrypt(cost: 4)))
    }

    func testMakeThenVerifyYescrypt() throws {
        let hash = try PasswordHash.make(bytes("hunter2"), scheme: .yescrypt)
        XCTAssertTrue(hash.hasPrefix("$y$"), hash)
        XCTAssertTrue(PasswordHash.isSupported(hash))
        XCTAssertTrue(PasswordHash.verify(bytes("hunter2"), against: hash))
        XCTAssertFalse(PasswordHash.verify(bytes("hunter3"), against: hash))
    }

    func testOurHashesVerifyWithTheOtherTool() throws {
        // htpasswd -v checks a password against an htpasswd file: independent bcrypt code.
        let hash = try PasswordHash.make(bytes("interop"), scheme: .bcrypt(cost: 4))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pwtest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("htpasswd").path
        try Data("user:\(hash)\n".utf8).write(to: URL(fileURLWithPath: file))
        _ = try run("htpasswd", ["-vb", file, "user", "interop"])
    }

    func testMakeRefusesBadInput() {
        XCTAssertThrowsError(try PasswordHash.make([], scheme: .bcrypt(cost: 4)))
        XCTAssertThrowsError(try PasswordHash.make(bytes("pw"), scheme: .bcrypt(cost: 3)))
        XCTAssertThrowsError(try PasswordHash.make(bytes("pw"), scheme: .bcrypt(cost: 32)))
    }

    // MARK: Dummy hashes

    func testDummyUsesTheMostCommonBcryptCost() throws {
        let common = try htpasswd("a", cost: 5)
        let rare = try htpasswd("b", cost: 6)
        let dummy = PasswordHash.dummy(matching: [rare, common, try htpasswd("c", cost: 5), "*"])
        XCTAssertTrue(dummy.hasPrefix("$2b$05$"), dummy)
        XCTAssertTrue(PasswordHash.isSupported(dummy))
        XCTAssertFalse(PasswordHash.verify(bytes("a"), against: dummy))
        XCTAssertFalse(PasswordHash.verify([], against: dummy))
    }

    func testDummyUsesTheYescryptParameters() throws {
        let hashes = try [
            mkpasswd(bytes("a"), method: "yescrypt", rounds: 3), mkpasswd(bytes("b"), method: "yescrypt", rounds: 3),
        ]
        let parameters = hashes[0].split(separator: "$")[1]
        let dummy = PasswordHash.dummy(matching: hashes + [try htpasswd("c")])
        XCTAssertTrue(dummy.hasPrefix("$y$\(parameters)$"), "\(dummy) vs \(hashes[0])")
        XCTAssertTrue(PasswordHash.isSupported(dummy))
    }

    func testDummyDefaultsToBcryptCostTen() {
        XCTAssertTrue(PasswordHash.dummy(matching: []).hasPrefix("$2b$10$"))
        XCTAssertTrue(PasswordHash.dummy(matching: ["$6$notsupported"]).hasPrefix("$2b$10$"))
    }

    // MARK: Directory

    func testUserDirectoryLookupIsByteExact() throws {
        let hash = try PasswordHash.make(bytes("pw"), scheme: .bcrypt(cost: 4))
        let directory = UserDirectory(accounts: [UserAccount(name: "Kate", passwordHash: hash)])
        XCTAssertEqual(directory.count, 1)
        XCTAssertNotNil(directory.account(named: "Kate"))
        XCTAssertNil(directory.account(named: "kate"))
        XCTAssertNil(directory.account(named: "\u{212A}ate"))  // KELVIN SIGN: canonically equal to "K"
        XCTAssertTrue(directory.dummyHash.hasPrefix("$2b$04$"))
    }

    func testUserDirectoryDiffNamesEndedAccounts() {
        let h1 = "$2b$04$" + String(repeating: "a", count: 53)
        let h2 = "$2b$04$" + String(repeating: "b", count: 53)
        let old = UserDirectory(accounts: [
            UserAccount(name: "kept", passwordHash: h1, groups: ["a"]),
            UserAccount(name: "regrouped", passwordHash: h1, groups: ["a"]),
            UserAccount(name: "removed", passwordHash: h1),
            UserAccount(name: "disabled", passwordHash: h1),
            UserAccount(name: "reset", passwordHash: h1),
        ])
        let new = UserDirectory(accounts: [
            UserAccount(name: "kept", passwordHash: h1, groups: ["a"]),
            UserAccount(name: "regrouped", passwordHash: h1, groups: ["b"]),
            UserAccount(name: "disabled", passwordHash: h1, disabled: true),
            UserAccount(name: "reset", passwordHash: h2),
            UserAccount(name: "added", passwordHash: h2),
        ])
        XCTAssertEqual(new.diff(from: old), ["disabled", "removed", "reset"])
        XCTAssertEqual(old.diff(from: old), [])
    }
}
