package import Foundation

/// A throwaway `redis-sentinel` on a free loopback port, watching one master; killed in `deinit`.
package final class RedisSentinelProcess: @unchecked Sendable {
    // `@unchecked`: the process handle is only replaced by start/stop, which tests call from one thread.
    package let port: Int
    package let password: String?
    private let configPath: String
    private var process: Process?

    /// - Parameters:
    ///   - masterPort: the master to watch (as `name`, quorum 2).
    ///   - dataPassword: the data nodes' `requirepass` (`sentinel auth-pass`).
    ///   - password: the sentinel's own `requirepass` (also used to talk to the other sentinels).
    ///   - downAfter: `down-after-milliseconds`; the failover timeout is twice it.
    ///   - port: the port to listen on (nil: a free one).
    package init(directory: String, name: String, masterPort: Int, dataPassword: String? = nil,
                 password: String? = nil, downAfter: Int = 1000, port: Int? = nil) throws {
        self.port = try port ?? freeLoopbackPort()
        self.password = password
        configPath = "\(directory)/sentinel-\(self.port).conf"
        var lines = [
            "port \(self.port)", "bind 127.0.0.1", "daemonize no", "dir \(directory)", "logfile \"\"",
            "sentinel monitor \(name) 127.0.0.1 \(masterPort) 2",
            "sentinel down-after-milliseconds \(name) \(downAfter)",
            "sentinel failover-timeout \(name) \(downAfter * 2)",
            "sentinel parallel-syncs \(name) 1",
        ]
        if let dataPassword { lines.append("sentinel auth-pass \(name) \(dataPassword)") }
        if let password { lines += ["requirepass \(password)", "sentinel sentinel-pass \(password)"] }
        try (lines.joined(separator: "\n") + "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
        try start()
    }

    deinit { stop() }

    package func start() throws {
        let p = Process()
        // redis-server in sentinel mode (what Debian's redis-sentinel runs; the mode is not left to argv[0]).
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        p.arguments = [configPath, "--sentinel"]
        let log = configPath + ".log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let output = FileHandle(forWritingAtPath: log)
        p.standardOutput = output
        p.standardError = output
        try p.run()
        process = p
        let deadline = Date() + 10
        while Date() < deadline {
            if (try? cli("PING")) == "PONG" { return }
            usleep(20_000)
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw TestFailure("redis-sentinel on port \(port) did not answer PING:\n\(text.suffix(2000))")
    }

    /// SIGKILL, like `RedisServerProcess.stop()`.
    package func stop() {
        killAndWait(process)
        process = nil
    }

    /// Runs redis-cli against this sentinel; its output lines, trimmed.
    @discardableResult
    package func cli(_ arguments: String...) throws -> String {
        var all = ["-p", "\(port)"]
        if let password { all += ["--no-auth-warning", "-a", password] }
        return try runCLI(all + arguments)
    }
}

/// A master, one replica and three sentinels on loopback, settled (the replica in sync, every sentinel knowing
/// the replica and the two other sentinels) before the initializer returns.
package final class RedisFailoverSet: @unchecked Sendable {
    // `@unchecked`: the processes are only started/stopped from the test's thread.
    package let name = "ghmaster"
    package let servers: [RedisServerProcess]
    package let sentinels: [RedisSentinelProcess]
    package let directory: String

    package init(dataPassword: String? = nil, sentinelPassword: String? = nil, downAfter: Int = 1000) throws {
        var template = Array("/tmp/gatehouse-sentinel-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestFailure("mkdtemp failed")
        }
        let directory = String(cString: made)
        self.directory = directory
        // Both may be a replica one day (after a failover): both know the master's password.
        let auth = dataPassword.map { ["--masterauth", $0] } ?? []
        let master = try RedisServerProcess(password: dataPassword, extraArguments: auth)
        let replica = try RedisServerProcess(password: dataPassword,
                                             extraArguments: auth + ["--replicaof", "127.0.0.1", "\(master.port)"])
        servers = [master, replica]
        try Self.poll("the replica in sync", timeout: 10) {
            (try? replica.cli("INFO", "replication"))?.contains("master_link_status:up") == true
        }
        sentinels = try (0..<3).map { _ in
            try RedisSentinelProcess(directory: directory, name: "ghmaster", masterPort: master.port,
                                     dataPassword: dataPassword, password: sentinelPassword, downAfter: downAfter)
        }
        try waitUntilSettled()
    }

    deinit {
        for sentinel in sentinels { sentinel.stop() }
        for server in servers { server.stop() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `host:port` of each sentinel, for `sessions.redis.sentinel.addresses`.
    package var addresses: [String] { sentinels.map { "127.0.0.1:\($0.port)" } }

    /// The master's port as the first sentinel that answers names it.
    package func masterPort() throws -> Int {
        for sentinel in sentinels {
            let lines = (try? sentinel.cli("SENTINEL", "get-master-addr-by-name", name))?
                .split(whereSeparator: \.isNewline) ?? []
            if lines.count == 2, let port = Int(lines[1]) { return port }
        }
        throw TestFailure("no sentinel names a master")
    }

    /// The server on `port`.
    package func server(port: Int) throws -> RedisServerProcess {
        guard let server = servers.first(where: { $0.port == port }) else { throw TestFailure("no server on \(port)") }
        return server
    }

    /// Every sentinel knows the other two and a replica that is up; the replica is in sync.
    package func waitUntilSettled(timeout: Double = 20) throws {
        try Self.poll("sentinels settled", timeout: timeout) {
            sentinels.allSatisfy { sentinel in
                let others = (try? sentinel.cli("SENTINEL", "sentinels", name)) ?? ""
                let replicas = (try? sentinel.cli("SENTINEL", "replicas", name)) ?? ""
                let count = others.split(whereSeparator: \.isNewline).filter { $0 == "name" }.count
                return count == 2 && replicas.contains("master-link-status\nok")
                    && !replicas.contains("s_down") && !replicas.contains("disconnected")
            }
        }
    }

    /// `SENTINEL FAILOVER` on the first sentinel; returns once a sentinel names a new master.
    @discardableResult
    package func failover(timeout: Double = 20) throws -> Int {
        let old = try masterPort()
        let answer = try sentinels[0].cli("SENTINEL", "FAILOVER", name)
        guard answer == "OK" else { throw TestFailure("SENTINEL FAILOVER: \(answer)") }
        var new = old
        try Self.poll("a new master after SENTINEL FAILOVER", timeout: timeout) {
            new = (try? masterPort()) ?? old
            return new != old
        }
        return new
    }

    /// Polls `condition` every 50 ms until it holds.
    package static func poll(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            usleep(50_000)
        }
        throw TestFailure("timed out after \(timeout)s waiting for \(what)")
    }
}

/// A TCP server on loopback that speaks just enough RESP to pass for a sentinel: `answer` gets each command
/// (its arguments as text) and returns the raw bytes to send back. For the bad-sentinel tests.
package final class FakeSentinel: @unchecked Sendable {
    // `@unchecked`: `fd` is fixed; each client is served on its own thread.
    package let port: Int
    private let fd: Int32
    private let answer: @Sendable ([String]) -> String

    package init(answer: @escaping @Sendable ([String]) -> String) throws {
        let (fd, port) = try LoopbackSocket.bind(listening: 16, name: "fake sentinel")
        self.fd = fd
        self.port = Int(port)
        self.answer = answer
        let thread = Thread { [fd, answer] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                Thread { Self.serve(client, answer) }.start()
            }
        }
        thread.start()
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// A sentinel that answers `PING`, `AUTH` and `SUBSCRIBE` properly and `SENTINEL ...` with `reply`.
    package static func answering(_ reply: String) throws -> FakeSentinel {
        try FakeSentinel { command in
            switch command.first?.uppercased() {
            case "PING": "+PONG\r\n"
            case "AUTH": "+OK\r\n"
            case "SUBSCRIBE": "*3\r\n$9\r\nsubscribe\r\n$\(command[1].utf8.count)\r\n\(command[1])\r\n:1\r\n"
            default: reply
            }
        }
    }

    /// RESP for `get-master-addr-by-name`'s answer.
    package static func address(_ host: String, _ port: String) -> String {
        "*2\r\n$\(host.utf8.count)\r\n\(host)\r\n$\(port.utf8.count)\r\n\(port)\r\n"
    }

    private static func serve(_ client: Int32, _ answer: @Sendable ([String]) -> String) {
        defer { close(client) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(client, &chunk, chunk.count)
            if n <= 0 { return }
            buffer += chunk[0..<n]
            while let (command, used) = parse(buffer) {
                buffer.removeFirst(used)
                let reply = Array(answer(command).utf8)
                if reply.withUnsafeBytes({ write(client, $0.baseAddress, $0.count) }) < 0 { return }
            }
        }
    }

    /// One `*N\r\n$len\r\narg\r\n...` command from the front of `bytes`, or nil when incomplete.
    private static func parse(_ bytes: [UInt8]) -> ([String], Int)? {
        var index = 0
        func line() -> String? {
            guard let end = bytes[index...].firstIndex(of: UInt8(ascii: "\r")), end + 1 < bytes.count else { return nil }
            let text = String(decoding: bytes[index..<end], as: UTF8.self)
            index = end + 2
            return text
        }
        guard let head = line(), head.hasPrefix("*"), let count = Int(head.dropFirst()) else { return nil }
        var args: [String] = []
        for _ in 0..<count {
            guard let size = line(), size.hasPrefix("$"), let length = Int(size.dropFirst()),
                  index + length + 2 <= bytes.count
            else { return nil }
            args.append(String(decoding: bytes[index..<(index + length)], as: UTF8.self))
            index += length + 2
        }
        return (args, index)
    }
}

/// A port nobody listens on now (bound, named, closed).
package func freeLoopbackPort() throws -> Int {
    let (fd, port) = try LoopbackSocket.bind(listening: nil, name: "free port")
    close(fd)
    return Int(port)
}

/// SIGKILL and reap (a process spawned from a test-runner thread may have SIGTERM blocked).
func killAndWait(_ process: Process?) {
    guard let process else { return }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
}

/// Runs redis-cli with `arguments`; its output, trimmed.
func runCLI(_ arguments: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
    p.arguments = arguments
    p.standardError = FileHandle.nullDevice
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
