package import Foundation

// Small helpers for the integration tests: starting echo upstreams, waiting on a process's output,
// reading a process's memory, reserving a port nobody listens on, and running one-shot CLI commands.

extension GatehouseProcess {
    /// Starts `gatehouse echo --listen 127.0.0.1:0` (an ephemeral loopback port).
    package static func startEcho() throws -> GatehouseProcess {
        try GatehouseProcess(["echo", "--listen", "127.0.0.1:0"])
    }

    /// The address other configs use to reach this process ("127.0.0.1:PORT").
    package var address: String { "127.0.0.1:\(port)" }

    /// Polls stdout until `predicate` holds or `timeout` passes; returns the last stdout seen.
    @discardableResult
    package func waitForStdout(timeout: Double = 5, until predicate: (String) -> Bool) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var text = stdout
        while !predicate(text), Date() < deadline {
            usleep(10_000)
            text = stdout
        }
        return text
    }

    /// Polls stderr until `predicate` holds or `timeout` passes; returns the last stderr seen.
    @discardableResult
    package func waitForStderr(timeout: Double = 5, until predicate: (String) -> Bool) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var text = stderr
        while !predicate(text), Date() < deadline {
            usleep(10_000)
            text = stderr
        }
        return text
    }

    /// Stdout as lines (the echo server's request log: one "METHOD target" per request it received).
    package var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// Waits until the process has a handler installed for `signal` (its bit in SigCgt of /proc/PID/status).
    ///
    /// `gatehouse run` prints "listening on" before it installs its SIGTERM/SIGINT/SIGHUP handlers, so a signal
    /// sent right after startup can still take the default action (kill) instead of a graceful drain.
    /// - Returns: false when the handler did not appear within `timeout`.
    @discardableResult
    package func waitForSignalHandler(_ signal: Int32, timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if let text = readProcFile("/proc/\(process.processIdentifier)/status"),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
                let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16),
                mask & (1 << UInt64(signal - 1)) != 0
            {
                return true
            }
            usleep(5_000)
        } while Date() < deadline
        return false
    }

    /// The resident set size of the process in KiB (VmRSS of /proc/PID/status), nil once it has exited.
    package var residentKiB: Int? { ProcessMemory.residentKiB(pid: process.processIdentifier) }

    /// CPU time the process has used, user plus system (utime + stime of /proc/PID/stat), in seconds.
    package var cpuSeconds: Double? {
        guard let text = readProcFile("/proc/\(process.processIdentifier)/stat"),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Sets the process's file-descriptor limit (soft and hard) while it runs, with util-linux's `prlimit`
    /// (Glibc's prlimit(2) wrapper is not visible to Swift).
    package func limitDescriptors(to count: Int) throws {
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        tool.arguments = ["--pid", "\(process.processIdentifier)", "--nofile=\(count):\(count)"]
        try tool.run()
        tool.waitUntilExit()
        guard tool.terminationStatus == 0 else { throw TestFailure("prlimit --nofile=\(count) failed") }
    }

    /// The number of descriptors the process has open now (entries of /proc/PID/fd).
    package var openDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").count) ?? 0
    }

    /// The admin listener's port, from the "admin listening on" log line (waited for: the gateway prints it just
    /// after the public "listening on" line that told the test it had started).
    package var adminPort: UInt16? {
        let text = waitForStderr(timeout: 5) { text in
            text.range(of: "admin listening on ").map { text[$0.upperBound...].contains("\n") } ?? false
        }
        guard let range = text.range(of: "admin listening on ") else { return nil }
        let rest = text[range.upperBound...]
        let address = rest.prefix { !$0.isWhitespace }
        return address.split(separator: ":").last.flatMap { UInt16($0) }
    }
}

/// Reads /proc for another process's memory.
package enum ProcessMemory {
    /// VmRSS of `pid` in KiB, nil when unreadable.
    package static func residentKiB(pid: Int32) -> Int? {
        guard let text = readProcFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }
}

/// Reads a whole /proc file. procfs reports a size of 0 and hands out one page per read, so a reader that
/// trusts the size (or reads once) gets a truncated file; this reads until EOF.
package func readProcFile(_ path: String) -> String? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    guard let data = try? handle.readToEnd() else { return nil }
    return String(decoding: data, as: UTF8.self)
}

/// A loopback TCP port that is bound but never listens, so connecting to it is refused (RST) for as long as
/// this object lives, and no other test can take the port meanwhile.
package final class RefusingPort {
    private let fd: Int32
    package let port: UInt16

    package init() throws {
        let (fd, port) = try LoopbackSocket.bind(listening: nil, name: "refusing port")
        self.fd = fd
        self.port = port
    }

    /// "127.0.0.1:PORT".
    package var address: String { "127.0.0.1:\(port)" }

    deinit { close(fd) }
}

/// The outcome of a `gatehouse` command that runs to completion.
package struct CommandResult {
    package var status: Int32
    package var stdout: String
    package var stderr: String
}

/// Runs `gatehouse <arguments>` to completion and collects all its output (both pipes read to EOF).
package func runGatehouse(_ arguments: [String], timeout: Double = 30) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: GatehouseProcess.binaryPath)
    process.arguments = arguments
    let outPipe = Pipe()
    let errPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    try process.run()  // one-shot commands need no signals
    // Read stderr on another thread so neither pipe can fill up and block the child.
    let errBox = ResultBox()
    let errThread = Thread { errBox.set(errPipe.fileHandleForReading.readDataToEndOfFile()) }
    errThread.start()
    let out = outPipe.fileHandleForReading.readDataToEndOfFile()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning, Date() < deadline { usleep(10_000) }
    if process.isRunning {
        process.terminate()
        throw TestFailure("gatehouse \(arguments.joined(separator: " ")) did not finish in \(timeout)s")
    }
    let err = errBox.wait(timeout: timeout)
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self))
}

/// Starts `gatehouse <arguments>`, sends `signal` the moment "listening on" appears on its stderr (no
/// polling delay), and waits for it to exit. Returns how it ended.
package func signalAsSoonAsListening(_ arguments: [String], signal: Int32,
                                     timeout: Double = 10) throws -> (reason: Process.TerminationReason, status: Int32) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: GatehouseProcess.binaryPath)
    process.arguments = arguments
    let errPipe = Pipe()
    process.standardError = errPipe
    process.standardOutput = FileHandle.nullDevice
    var unblock = sigset_t()
    sigemptyset(&unblock)
    for number in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&unblock, number) }
    var previous = sigset_t()
    pthread_sigmask(SIG_UNBLOCK, &unblock, &previous)
    do {
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
    }
    var text = ""
    let handle = errPipe.fileHandleForReading
    while !text.contains("listening on") {
        let data = handle.availableData  // blocks until the child writes or exits
        if data.isEmpty { break }
        text += String(decoding: data, as: UTF8.self)
    }
    kill(process.processIdentifier, signal)
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning, Date() < deadline { usleep(5_000) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw TestFailure("gatehouse \(arguments.joined(separator: " ")) did not exit after signal \(signal)")
    }
    return (process.terminationReason, process.terminationStatus)
}

/// One value handed from a reader thread to a waiting one (a child's stdout or stderr read to its end).
final class ResultBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var data: Data?

    func set(_ value: Data) {
        condition.withLock {
            data = value
            condition.broadcast()
        }
    }

    func wait(timeout: Double) -> Data {
        condition.withLock {
            let deadline = Date().addingTimeInterval(timeout)
            while data == nil, condition.wait(until: deadline) {}
            return data ?? Data()
        }
    }
}

/// Waits until `condition` holds or `seconds` pass (polling every 50 ms); returns whether it held.
package func eventually(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}
