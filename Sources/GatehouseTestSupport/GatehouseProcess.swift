package import Foundation

/// Runs a `gatehouse` subcommand as a real child process (the binary built beside the tests), and reads the
/// address it printed when it started listening.
///
/// Tests drive the real binary, not an in-process copy, so signals, exit codes, the CLI and the config
/// loader are exercised exactly as an operator would.
package final class GatehouseProcess: @unchecked Sendable {
    // `@unchecked`: the output buffers are guarded by `lock`; Process itself is thread-safe for these uses.
    package let process = Process()
    private let lock = NSLock()
    private var stderrText = ""
    private var stdoutText = ""
    package private(set) var port: UInt16 = 0

    /// The `gatehouse` binary next to the test bundle (`.build/<triple>/debug/gatehouse`).
    package static var binaryPath: String {
        if let explicit = ProcessInfo.processInfo.environment["GATEHOUSE_BINARY"] { return explicit }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("gatehouse").path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue {
                return candidate
            }
        }
        return ".build/debug/gatehouse"
    }

    /// Starts `gatehouse <arguments>` and waits until it prints "listening on HOST:PORT".
    /// - Parameter launcher: a command that runs the binary, e.g. `["/usr/bin/prlimit", "--nofile=64:64"]`
    ///   (it must exec the binary, so `process` is the gateway itself); empty: the binary runs directly.
    /// - Throws: when the process exits or prints nothing within `timeout`.
    package init(_ arguments: [String], environment: [String: String] = [:], waitForListening: Bool = true,
                 timeout: Double = 20, launcher: [String] = []) throws {
        let command = launcher + [Self.binaryPath] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let errPipe = Pipe()
        let outPipe = Pipe()
        process.standardError = errPipe
        process.standardOutput = outPipe
        errPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.stderrText += String(decoding: data, as: UTF8.self) }
        }
        outPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.stdoutText += String(decoding: data, as: UTF8.self) }
        }
        try Self.runWithSignalsUnblocked(process)
        guard waitForListening else { return }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let port = Self.listeningPort(in: stderr) {
                self.port = port
                return
            }
            if !process.isRunning { break }
            usleep(20_000)
        }
        let text = stderr
        terminate()
        throw TestFailure("gatehouse \(arguments.joined(separator: " ")) did not start listening:\n\(text)")
    }

    /// Starts `process` with SIGTERM, SIGINT, SIGHUP and SIGQUIT unblocked in the spawning thread.
    ///
    /// A child inherits the signal mask of the thread that spawns it, and the test runner's worker threads
    /// (Dispatch/cooperative pool) block nearly every signal. Without this, the gateway and the echo server
    /// never see SIGTERM or SIGHUP: `terminate()` always waited 5 s and fell back to SIGKILL, and graceful
    /// drain and reload could not be tested at all.
    private static func runWithSignalsUnblocked(_ process: Process) throws {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for number in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&unblock, number) }
        var previous = sigset_t()
        pthread_sigmask(SIG_UNBLOCK, &unblock, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
    }

    /// Everything the process wrote to stderr so far.
    package var stderr: String { lock.withLock { stderrText } }
    /// Everything the process wrote to stdout so far (the access log by default).
    package var stdout: String { lock.withLock { stdoutText } }

    /// Sends a signal.
    package func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to exit; returns its status, or nil on timeout.
    package func waitForExit(timeout: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Stops the process (SIGKILL if SIGTERM is not enough).
    package func terminate() {
        guard process.isRunning else { return }
        process.terminate()
        if waitForExit(timeout: 5) == nil { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { terminate() }

    /// The first TLS listener's port ("listening on HOST:PORT (TLS)"), waiting up to 5 s for the line (it
    /// follows the plain listeners' lines, which is all the initialiser waits for); nil without one.
    package var tlsPort: UInt16? {
        let deadline = Date().addingTimeInterval(5)
        repeat {
            if let port = Self.listeningPort(in: stderr, tls: true) { return port }
            if stderr.contains("started ") || !process.isRunning { break }
            usleep(10_000)
        } while Date() < deadline
        return Self.listeningPort(in: stderr, tls: true)
    }

    /// The port of the first "listening on HOST:PORT" line: a plain listener's, or with `tls` a TLS
    /// listener's ("listening on HOST:PORT (TLS)"); when the gateway has only TLS listeners, the first of
    /// them counts as its port.
    static func listeningPort(in text: String, tls: Bool = false) -> UInt16? {
        var fallback: UInt16? = nil
        for line in text.split(separator: "\n") {
            guard let range = line.range(of: "listening on ") else { continue }
            let address = line[range.upperBound...].split(separator: " ").first ?? ""
            guard let colon = address.lastIndex(of: ":"),
                let port = UInt16(address[address.index(after: colon)...])
            else { continue }
            let isTLS = line.hasSuffix("(TLS)")
            if isTLS == tls { return port }
            if isTLS, fallback == nil { fallback = port }
        }
        return tls ? nil : fallback
    }
}

/// An error thrown by test support with a readable message.
package struct TestFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
