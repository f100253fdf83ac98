import Foundation

/// Password hashes made by independent tools at test time: `htpasswd -B` (Debian apache2-utils) and
/// `mkpasswd -m yescrypt` (Debian whois), never by the gateway's own code.
package enum IndependentHash {
    /// `$2y$` bcrypt at `cost` (low in tests: the gateway's dummy hash then costs the same).
    package static func bcrypt(_ password: String, cost: Int = 5) throws -> String {
        let out = try run("/usr/bin/htpasswd", ["-nbB", "-C", String(cost), "user", password])
        guard let colon = out.firstIndex(of: ":") else { throw TestFailure("htpasswd printed \(out)") }
        return String(out[out.index(after: colon)...]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `$y$` yescrypt.
    package static func yescrypt(_ password: String) throws -> String {
        try run("/usr/bin/mkpasswd", ["-m", "yescrypt", password]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func run(_ tool: String, _ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw TestFailure("\(tool) is missing: scripts/install-deps.sh installs apache2-utils and whois")
        }
        let result = try runTool(tool, arguments)
        guard result.status == 0 else { throw TestFailure("\(tool) failed") }
        return result.output
    }
}

/// What a tool run by ``runTool(_:_:input:)`` printed and how it ended.
package struct ToolResult {
    package let status: Int32
    /// Standard output, as text.
    package let output: String
}

/// Runs an independent tool (htpasswd, mkpasswd, openssl, the gateway binary itself) to its end, with `input`
/// on standard input (none: stdin is closed at once); standard error is discarded.
package func runTool(_ path: String, _ arguments: [String], input: [UInt8]? = nil) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe()
    let stdin = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    process.standardInput = stdin
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input)) }
    try stdin.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

/// A real gateway with its own sign-in: a users file written for the test (hashes from ``IndependentHash``), an
/// embedded session store in the test's directory, the echo upstream, and optionally the admin listener.
///
/// The config may use `@KEYS@` (the test directory: users file, store, signing key) and `@UPSTREAM@`.
package final class SessionGateway: @unchecked Sendable {
    // `@unchecked`: the processes are thread-safe; the rest is immutable after init.
    package let auth: AuthGateway

    package init(_ configYAML: String, files: [String: String] = [:], environment: [String: String] = [:]) throws {
        auth = try AuthGateway(configYAML, files: files, environment: environment)
    }

    package var port: UInt16 { auth.port }
    package var directory: String { auth.keys.path }
    package var gateway: TestGateway { auth.gateway }

    /// The admin listener's port.
    package var adminPort: UInt16? { gateway.gateway.adminPort }

    /// Sends a raw request and reads the answer.
    package func send(_ request: String, timeout: Double = 10) throws -> RawResponse {
        guard let response = try auth.send(request, timeout: timeout) else {
            throw TestFailure("no response to:\n\(request)\n\(auth.diagnostics)")
        }
        return response
    }

    /// Sends a raw request to the admin listener.
    package func sendAdmin(_ request: String) throws -> RawResponse {
        guard let port = adminPort else { throw TestFailure("no admin listener:\n\(auth.diagnostics)") }
        let client = try RawClient(port: port)
        try client.send(request)
        guard let response = client.readResponse(timeout: 10) else { throw TestFailure("no admin response") }
        return response
    }

    /// `POST /.gatehouse/login` as the login page's form posts it.
    package func signIn(_ user: String, _ password: String, rd: String? = nil,
                        extraHeaders: String = "") throws -> RawResponse {
        var body = "username=\(Self.formEncode(user))&password=\(Self.formEncode(password))"
        if let rd { body += "&rd=\(Self.formEncode(rd))" }
        return try send("POST /.gatehouse/login HTTP/1.1\r\nHost: gw.test\r\n"
                        + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
                        + extraHeaders + "\r\n" + body)
    }

    /// `POST /.gatehouse/login` with a JSON body (API clients, token mode).
    package func signInJSON(_ user: String, _ password: String) throws -> RawResponse {
        let body = "{\"username\":\"\(user)\",\"password\":\"\(password)\"}"
        return try send("POST /.gatehouse/login HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\n"
                        + "Content-Length: \(body.utf8.count)\r\n\r\n" + body)
    }

    /// The cookie value a sign-in answer set (`name=value` of its `Set-Cookie`), or nil.
    package static func cookie(of response: RawResponse, name: String = "gatehouse_session") -> String? {
        for (headerName, value) in response.headers where headerName.lowercased() == "set-cookie" {
            let pair = value.split(separator: ";", maxSplits: 1)[0]
            if pair.hasPrefix(name + "="), pair.count > name.count + 1 { return String(pair) }
        }
        return nil
    }

    /// A GET of `path` with `headers` (each ending in CRLF).
    package func get(_ path: String, headers: String = "") throws -> RawResponse {
        try send("GET \(path) HTTP/1.1\r\nHost: gw.test\r\n\(headers)\r\n")
    }

    /// Stops the gateway and starts it again on the same config and the same store file.
    package func restart() throws {
        try gateway.restartGateway()
    }

    package static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// A users-file entry.
    package static func user(_ name: String, hash: String, email: String? = nil, groups: [String] = [],
                             disabled: Bool = false) -> String {
        var text = "  \(name):\n    password: \"\(hash)\"\n"
        if let email { text += "    email: \(email)\n" }
        if !groups.isEmpty { text += "    groups: [\(groups.joined(separator: ", "))]\n" }
        if disabled { text += "    disabled: true\n" }
        return text
    }
}
