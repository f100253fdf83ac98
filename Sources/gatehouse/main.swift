import ArgumentParser
import GatehouseConfig
import GatehouseIO
import GatehouseServer
import GatehouseSessions
import Logging

/// `gatehouse`: the reverse-proxy authentication gateway.
struct Gatehouse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse",
        abstract: "A reverse-proxy authentication gateway configured by one YAML file.",
        subcommands: [Run.self, CheckConfig.self, Explain.self, Echo.self, HashPassword.self,
                      TOTPCommand.self],
        defaultSubcommand: Run.self
    )
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String = "Config/gatehouse.yaml"

    func run() throws {
        let logger = makeLogger()
        // Written before the process exits (bounded: a stderr that never drains does not keep it alive).
        defer { diagnostics?.close(timeout: .seconds(2)) }
        let gateway: Gateway
        do {
            gateway = try Gateway(configPath: config, logger: logger)
        } catch {
            diagnostics?.close(timeout: .seconds(2))
            printError("\(error)")
            throw ExitCode(1)
        }
        let status = try gateway.run()
        throw ExitCode(status)
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file; print every error as file:line: key: problem.")

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String = "Config/gatehouse.yaml"

    func run() throws {
        do {
            let loaded = try ConfigLoader.load(path: config)
            let plan = try SnapshotCompiler.compile(loaded)
            if let signIn = plan.signIn, let usersFile = signIn.usersFile {
                let users = try SnapshotCompiler.loadUsers(usersFile)
                // Warnings do not fail the check: the file works, sign-ins just queue under load.
                let file = try UsersFileLoader.load(path: usersFile)
                for warning in HashCost.warnings(file, hashThreads: signIn.hashThreads) { printError(warning) }
                print("\(usersFile): ok (\(users.count) user(s))")
            }
            print("\(config): ok")
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the gateway would do with one request: route, checks, and the exact upstream head.")

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String = "Config/gatehouse.yaml"

    @Option(name: .long, help: "METHOD URL, e.g. \"GET https://app.example.com/path\".")
    var request: String

    @Option(name: .customShort("H"), help: "A request header, \"Name: value\" (repeatable).")
    var header: [String] = []

    @Option(name: .long, help: "The client address the gateway sees.")
    var peer: String = "127.0.0.1"

    @Option(name: .long, help: "Evaluate at this unix time instead of now (for expired-token questions).")
    var at: Int64?

    func run() throws {
        do {
            let now = at ?? Int64(Clocks.wallClock().seconds)
            print(try GatehouseServer.Explain.run(configPath: config, request: request, headers: header, peer: peer,
                                                  now: now), terminator: "")
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }
    }
}

struct Echo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a demo upstream that answers every request with JSON describing what it received.")

    @Option(name: .shortAndLong, help: "Address to listen on, e.g. 127.0.0.1:9000.")
    var listen: String = "127.0.0.1:9000"

    func run() throws {
        let server: EchoServer
        do {
            server = try EchoServer(address: try SocketAddress(parsing: listen))
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        makeLogger().info("echo listening on \(server.boundAddress)")
        server.run()
    }
}

/// The writer behind every log line (`makeLogger`); nil until then.
nonisolated(unsafe) var diagnostics: LogSink?

/// Routes every log line (any thread's, libevent's too) through a writer thread to stderr, so a blocked
/// stderr never stalls a worker loop.
func makeLogger() -> Logger {
    diagnostics = DiagnosticLog.bootstrap(level: .info)
    return Logger(label: "gatehouse")
}

struct HashPassword: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Read a password from standard input (one line) and print its hash for the users file.")

    @Option(name: .long, help: "bcrypt (default) or yescrypt.")
    var scheme: String = "bcrypt"

    @Option(name: .long, help: "bcrypt cost, 4...31 (each step doubles the time).")
    var cost: Int = 12

    func run() throws {
        var bytes = StandardStreams.readInputLine()
        if bytes.last == 13 { bytes.removeLast() }
        guard !bytes.isEmpty else {
            printError("hash-password: no password on standard input")
            throw ExitCode(1)
        }
        let chosen: PasswordHash.Scheme
        switch scheme {
        case "bcrypt":
            guard (4...31).contains(cost) else {
                printError("hash-password: --cost must be within 4...31")
                throw ExitCode(1)
            }
            chosen = .bcrypt(cost: cost)
        case "yescrypt": chosen = .yescrypt
        default:
            printError("hash-password: --scheme must be bcrypt or yescrypt")
            throw ExitCode(1)
        }
        do {
            print(try PasswordHash.make(bytes, scheme: chosen))
        } catch {
            printError("hash-password: \(error)")
            throw ExitCode(1)
        }
    }
}

func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        StandardStreams.writeError(string)
    }
}

Gatehouse.main()
