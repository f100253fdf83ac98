import ArgumentParser
import GatehouseConfig
import GatehouseIO
import GatehouseServer
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `gatehouse`: the reverse-proxy authentication gateway.
struct Gatehouse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse",
        abstract: "A reverse-proxy authentication gateway configured by one YAML file.",
        subcommands: [Run.self, CheckConfig.self, Explain.self, Echo.self],
        defaultSubcommand: Run.self
    )
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String = "Config/gatehouse.yaml"

    func run() throws {
        let logger = makeLogger()
        let gateway: Gateway
        do {
            gateway = try Gateway(configPath: config, logger: logger)
        } catch {
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
            _ = try SnapshotCompiler.compile(loaded)
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

func makeLogger() -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .info
        return handler
    }
    return Logger(label: "gatehouse")
}

func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        _ = string.utf8CString.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count - 1) }
    }
}

Gatehouse.main()
