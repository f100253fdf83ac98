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
        subcommands: [Run.self, CheckConfig.self, Echo.self],
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
