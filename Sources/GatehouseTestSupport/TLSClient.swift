import Crypto
package import Foundation

/// The SHA-256 of `bytes` as lowercase hex (what the echo upstream reports as `body_sha256`).
package func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

/// A TLS client for the integration tests: the `openssl s_client` command, an implementation independent
/// of the gateway's own use of libssl (other defaults, other code path), driven as a child process.
package enum TLSClient {
    /// What one `s_client` run saw.
    package struct Result {
        /// The exit status of `openssl s_client` (non-zero when the handshake failed).
        package var status: Int32
        /// Its stderr: with `-brief`, the negotiated protocol, cipher and peer certificate, or the error.
        package var info: String
        /// Every byte the server sent after the handshake.
        package var received: [UInt8]

        /// `TLSv1.3`, `TLSv1.2`, ... (from "Protocol version: ").
        package var protocolVersion: String? { value(of: "Protocol version: ") }
        /// The negotiated cipher suite, OpenSSL's name (from "Ciphersuite: ").
        package var cipher: String? { value(of: "Ciphersuite: ") }
        /// The peer certificate's subject as s_client prints it, e.g. `CN = a.test`.
        package var peerCertificate: String? { value(of: "Peer certificate: ") }
        /// True when the handshake completed.
        package var connected: Bool { info.contains("CONNECTION ESTABLISHED") }

        /// The HTTP response in `received`, if a whole one is there.
        package var response: RawResponse? { RawResponse.parse(received, headRequest: false, eof: true)?.0 }

        /// Every whole HTTP response in `received`, in order (pipelined requests).
        package var responses: [RawResponse] {
            var rest = received
            var list: [RawResponse] = []
            while !rest.isEmpty, let (response, used) = RawResponse.parse(rest, headRequest: false, eof: true) {
                list.append(response)
                rest.removeFirst(used)
            }
            return list
        }

        private func value(of prefix: String) -> String? {
            for line in info.split(separator: "\n") where line.hasPrefix(prefix) {
                return String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
            }
            return nil
        }
    }

    /// Connects to 127.0.0.1:`port` with `openssl s_client -brief`, sends `request` (if any), and reads
    /// until the server closes (send `Connection: close`) or `timeout` passes.
    /// - Parameters:
    ///   - serverName: the SNI name to send; nil sends none.
    ///   - options: further s_client options, e.g. `["-tls1_2"]`.
    ///   - request: bytes to send once connected.
    package static func run(port: UInt16, serverName: String? = nil, options: [String] = [], request: [UInt8] = [],
                            timeout: Double = 20) throws -> Result {
        // A request written to an s_client that already gave up (refused handshake) must fail the write,
        // not kill the test runner.
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = ["openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-brief"]
        if let serverName { arguments += ["-servername", serverName] } else { arguments += ["-noservername"] }
        process.arguments = arguments + options
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outBox = ResultBox()
        let errBox = ResultBox()
        let outThread = Thread { outBox.set(output.fileHandleForReading.readDataToEndOfFile()) }
        let errThread = Thread { errBox.set(errors.fileHandleForReading.readDataToEndOfFile()) }
        outThread.start()
        errThread.start()
        // Written from another thread: a large request must not block on a pipe while s_client waits for
        // the handshake (or has already exited).
        let writer = Thread {
            if !request.isEmpty { try? input.fileHandleForWriting.write(contentsOf: Data(request)) }
        }
        writer.start()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? input.fileHandleForWriting.close()
        let out = outBox.wait(timeout: 5)
        let err = errBox.wait(timeout: 5)
        return Result(status: process.terminationStatus, info: String(decoding: err, as: UTF8.self),
                      received: Array(out))
    }

    /// `run` with a text request.
    package static func run(port: UInt16, serverName: String? = nil, options: [String] = [], request: String,
                            timeout: Double = 20) throws -> Result {
        try run(port: port, serverName: serverName, options: options, request: Array(request.utf8), timeout: timeout)
    }
}

/// Self-signed certificates made by the `openssl` command for a test, in a temporary directory that is
/// removed with this object.
package final class TestCertificates: @unchecked Sendable {
    // `@unchecked`: immutable after init.
    package let directory: URL

    package init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Paths of a certificate and its key.
    package struct Pair {
        package let certificate: String
        package let privateKey: String
    }

    /// Makes a self-signed P-256 certificate for `commonName` whose subjectAltName lists `names` (DNS
    /// names), as `file.crt` and `file.key`, overwriting files of that name.
    @discardableResult
    package func make(_ file: String, commonName: String, names: [String]) throws -> Pair {
        let pair = path(file)
        let alt = names.map { "DNS:\($0)" }.joined(separator: ",")
        let result = try runCommand("/usr/bin/env", [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", pair.privateKey, "-out", pair.certificate, "-days", "2", "-subj", "/CN=\(commonName)",
            "-addext", "subjectAltName=\(alt)",
        ])
        guard result.status == 0 else { throw TestFailure("openssl req failed: \(result.stderr)") }
        return pair
    }

    /// The paths `make(file, ...)` writes.
    package func path(_ file: String) -> Pair {
        Pair(certificate: directory.appendingPathComponent("\(file).crt").path,
             privateKey: directory.appendingPathComponent("\(file).key").path)
    }
}

/// Runs a command to completion (stdout and stderr read to EOF).
package func runCommand(_ executable: String, _ arguments: [String]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let outPipe = Pipe()
    let errPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    try process.run()
    let errBox = ResultBox()
    let errThread = Thread { errBox.set(errPipe.fileHandleForReading.readDataToEndOfFile()) }
    errThread.start()
    let out = outPipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let err = errBox.wait(timeout: 30)
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self))
}
