package import Foundation

/// A throwaway redis-server: no persistence unless asked, killed in tearDown.
package final class RedisServerProcess: @unchecked Sendable {
    // `@unchecked`: the process handle is only replaced by start/stop, which tests call from one thread.
    package let port: Int
    package let password: String?
    package let directory: String
    private let extraArguments: [String]
    private var process: Process?

    package init(password: String? = nil, extraArguments: [String] = []) throws {
        port = try freeLoopbackPort()  // redis-server needs a number, not port 0
        self.password = password
        self.extraArguments = extraArguments
        var template = Array("/tmp/gatehouse-redis-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw TestFailure("mkdtemp failed") }
        directory = String(cString: made)
        try start()
    }

    deinit { stop() }

    package func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        var arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--daemonize", "no", "--dir", directory, "--loglevel", "warning",
                         "--enable-debug-command", "local"]
        if let password { arguments += ["--requirepass", password] }
        p.arguments = arguments + extraArguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date() + 10
        while Date() < deadline {
            if (try? cli("PING")) == "PONG" { return }
            usleep(20_000)
        }
        throw TestFailure("redis-server on port \(port) did not answer PING")
    }

    /// Kills the server at once (SIGKILL: a process spawned from a test-runner thread may have SIGTERM blocked,
    /// and an outage should be abrupt anyway).
    package func stop() {
        killAndWait(process)
        process = nil
    }

    /// Runs redis-cli and returns its trimmed output.
    @discardableResult
    package func cli(_ arguments: String...) throws -> String {
        try cli(arguments)
    }

    @discardableResult
    package func cli(_ arguments: [String], db: Int = 0) throws -> String {
        let p = cliProcess(arguments, db: db)
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts redis-cli without waiting for it (DEBUG SLEEP).
    package func cliInBackground(_ arguments: String...) throws -> Process {
        let p = cliProcess(arguments, db: 0)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    private func cliProcess(_ arguments: [String], db: Int) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        var all = ["-p", "\(port)", "-n", "\(db)"]
        if let password { all += ["--no-auth-warning", "-a", password] }
        p.arguments = all + arguments
        p.standardError = FileHandle.nullDevice
        return p
    }

    /// `INFO commandstats` calls of one command.
    package func calls(of command: String) throws -> Int {
        let info = try cli("INFO", "commandstats")
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_\(command):calls=") {
            let value = line.dropFirst("cmdstat_\(command):calls=".count).prefix { $0.isNumber }
            return Int(value) ?? 0
        }
        return 0
    }

}
