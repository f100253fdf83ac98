import ArgumentParser
import GatehouseConfig
import GatehouseServer

/// `gatehouse totp`: the second factor's command-line side.
struct TOTPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "totp",
        abstract: "Time-based one-time passwords (RFC 6238) for the users file's second factor.",
        subcommands: [TOTPEnroll.self, TOTPQRCode.self])
}

/// How a QR code is printed.
enum QRFormat: String, ExpressibleByArgument, CaseIterable {
    /// Unicode half blocks, two module rows per line (the default).
    case text
    /// `##` per dark module, one line per module row.
    case ascii
    /// Rows of 0 and 1 without the quiet zone (to compare with another encoder).
    case matrix
    /// A plain PBM image, 8 pixels per module, with the quiet zone (for an image decoder).
    case pbm

    func render(_ code: QRCode, inverted: Bool) -> String {
        switch self {
        case .text: code.halfBlockText(inverted: inverted)
        case .ascii: code.asciiText(inverted: inverted)
        case .matrix: code.matrixRows()
        case .pbm: code.portableBitmap(scale: 8)
        }
    }
}

extension QRCode.ErrorCorrection: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument.uppercased() {
        case "L": self = .low
        case "M": self = .medium
        case "Q": self = .quartile
        case "H": self = .high
        default: return nil
        }
    }
}

struct TOTPEnroll: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Make a new TOTP secret for a user: print it, its otpauth:// URI and QR code, and the users-file line.",
        discussion: """
            The secret is 160 random bits. Scan the QR code (or type the secret) into an authenticator app, then \
            add the printed `totp_secret:` line under the user in the users file (or pass --write) and reload the \
            gateway. The QR code is drawn dark-on-light; on a terminal with light text on a dark background add \
            --invert if the app does not read it.
            """)

    @Argument(help: "The user name (as in the users file); it is also the account name the app shows.")
    var user: String

    @Option(name: .long, help: "The issuer name the app shows beside the account.")
    var issuer: String = "Gatehouse"

    @Option(name: .long, help: "The users file: the user must be in it.")
    var usersFile: String?

    @Option(name: .shortAndLong, help: "A configuration file whose login.users_file names the users file.")
    var config: String?

    @Flag(name: .long, help: "Draw the QR code with ## (two characters per module) instead of Unicode blocks.")
    var ascii = false

    @Flag(name: .long, help: "Swap dark and light in the QR code (for light-on-dark terminals).")
    var invert = false

    @Flag(name: .long, help: "Also set the user's totp_secret in the users file (replaced atomically).")
    var write = false

    @Option(name: .long, help: .hidden)
    var format: QRFormat?

    mutating func validate() throws {
        if usersFile != nil, config != nil {
            throw ValidationError("give --users-file or --config, not both")
        }
        if issuer.isEmpty { throw ValidationError("--issuer must not be empty") }
        if ascii, let format, format != .ascii { throw ValidationError("--ascii and --format \(format) disagree") }
        if write, usersFile == nil, config == nil { throw ValidationError("--write needs --users-file or --config") }
    }

    func run() throws {
        if let problem = UsersFileLoader.nameProblem(user) {
            // Still printed: the URI may be wanted for another system; but the users file could not hold it.
            printError("totp enroll: warning: \(problem); the users file cannot hold this user")
        }
        let path = try usersFilePath()
        if let path { try requireUser(in: path) }
        let enrolment = TOTPEnrolment(user: user, issuer: issuer)
        let code: QRCode
        do {
            code = try QRCode(bytes: Array(enrolment.uri.utf8), level: .medium)
        } catch {
            printError("totp enroll: \(error) (shorten the user or issuer name)")
            throw ExitCode(1)
        }
        // Written before anything is printed: a secret that failed to land must not be scanned into an app.
        var written: UsersFileEditor.Written?
        if write, let path {
            do {
                written = try UsersFileEditor.set("totp_secret", to: enrolment.base32Secret, user: user, path: path)
            } catch {
                printError("totp enroll: \(error)")
                throw ExitCode(1)
            }
        }
        let style = format ?? (ascii ? .ascii : .text)
        print("Secret (base32): \(enrolment.base32Secret)")
        print("URI: \(enrolment.uri)")
        print("")
        print(style.render(code, inverted: invert), terminator: "")
        print("")
        if let written {
            if written.othersCanRead {
                printError("totp enroll: warning: \(written.path) is readable by every user and now holds a TOTP "
                    + "secret; chmod o-r it (e.g. 640, group of the gateway's user)")
            }
            print("Set users.\(user).totp_secret in \(written.path); reload the gateway (SIGHUP) to use it:")
        } else {
            print("Add under users.\(user) in the users file, then reload the gateway:")
        }
        print("    \(enrolment.usersFileLine)")
    }

    /// The users file named by --users-file, or by --config's login.users_file; nil when neither is given.
    private func usersFilePath() throws -> String? {
        if let usersFile { return usersFile }
        guard let config else { return nil }
        do {
            let loaded = try ConfigLoader.load(path: config)
            guard let path = loaded.login?.signIn?.usersFile else {
                printError("totp enroll: \(config) has no login.users_file")
                throw ExitCode(1)
            }
            return path
        } catch let errors as ConfigErrors {
            printError("\(errors)")
            throw ExitCode(1)
        }
    }

    /// Fails unless the users file has an account named `user`.
    private func requireUser(in path: String) throws {
        let names: [String]
        do {
            names = try UsersFileEditor.userNames(path: path)
        } catch {
            printError("totp enroll: \(error)")
            throw ExitCode(1)
        }
        guard names.contains(user) else {
            printError("totp enroll: \(path) has no user \"\(user)\"")
            throw ExitCode(1)
        }
    }
}

/// Prints the QR code of any text: the encoder's test hook (hidden), with the version, level and mask fixed.
struct TOTPQRCode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr", abstract: "Print the QR code of a text (byte mode).", shouldDisplay: false)

    @Argument(help: "The text to encode (UTF-8).")
    var text: String

    @Option(name: .long, help: "L, M, Q or H.")
    var level: QRCode.ErrorCorrection = .medium

    @Option(name: .customLong("qr-version"), help: "A fixed version, 1...40.")
    var version: Int?

    @Option(name: .long, help: "A fixed mask, 0...7.")
    var mask: Int?

    @Option(name: .long, help: "text, ascii, matrix or pbm.")
    var format: QRFormat = .text

    @Flag(name: .long, help: "Swap dark and light.")
    var invert = false

    func run() throws {
        do {
            let code = try QRCode(bytes: Array(text.utf8), level: level, version: version, mask: mask)
            printError("version \(code.version) mask \(code.mask)")
            print(format.render(code, inverted: invert), terminator: "")
        } catch {
            printError("totp qr: \(error)")
            throw ExitCode(1)
        }
    }
}
