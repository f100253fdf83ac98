import Foundation
import Yams

/// Loads and validates the gateway's YAML configuration file.
///
/// One pass over the composed YAML tree (Yams `compose`, which keeps each node's line and
/// column) reads every section, checks every value and every cross-reference, and collects
/// *all* problems; if there is any, they are thrown together, in file order, as
/// ``ConfigErrors``. Only a file that is entirely valid produces a ``GatewayConfig``.
///
/// Foundation is used here only to read the file, which happens at start-up, on reload and in
/// `check-config`, never on the request path.
package enum ConfigLoader {
    /// The largest configuration file accepted; anything bigger is not a hand-written config.
    static let maximumFileSize = 4 << 20

    /// The top-level keys of this build.
    static let rootKeys = [
        "server", "admin", "access_log", "upstreams", "sessions", "tokens", "login", "identity_headers",
        "strip_header_prefixes", "routes", "assertion",
    ]

    /// Reads, parses and validates a configuration file.
    ///
    /// - Parameter path: The file to read; relative paths are relative to the working
    ///   directory. It is reported as given in every error and kept in `sourcePath`.
    /// - Returns: The validated configuration.
    /// - Throws: ``ConfigErrors`` listing every problem: unreadable file, YAML syntax error
    ///   (with its line when libyaml gives one), or schema and value problems.
    package static func load(path: String) throws(ConfigErrors) -> GatewayConfig {
        let text: String
        switch readFile(path) {
        case .parsed(let contents):
            text = contents
        case .invalid(let reason):
            throw ConfigErrors(errors: [ConfigError(code: .unreadable, location: nil, key: "", message: reason)])
        }
        return try parse(yaml: text, path: path)
    }

    /// Parses and validates configuration text.
    ///
    /// - Parameters:
    ///   - yaml: The YAML document.
    ///   - path: The name to report in locations and keep in `sourcePath`.
    /// - Returns: The validated configuration.
    /// - Throws: ``ConfigErrors`` listing every problem found, sorted by line.
    package static func parse(yaml: String, path: String) throws(ConfigErrors) -> GatewayConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigErrors(errors: [syntaxError(error, path: path)])
        }
        guard let root, !ConfigReader.isNull(root) else {
            let message = "the file holds no configuration; it needs at least \"upstreams\" and \"routes\""
            let location = SourceLocation(file: path, line: 1, column: 1)
            throw ConfigErrors(errors: [ConfigError(code: .emptyFile, location: location, key: "", message: message)])
        }
        let reader = ConfigReader(file: path)
        let config = read(root, path: path, reader: reader)
        if !reader.errors.isEmpty {
            throw ConfigErrors(errors: sortedByLocation(reader.errors))
        }
        guard let config else {
            // Every reader reports before returning nil; reaching this is a bug in this module,
            // but it is reported as an error rather than crashing a reload.
            let message = "internal error: the configuration was refused without a reason"
            throw ConfigErrors(errors: [ConfigError(code: .invalidValue, location: nil, key: "", message: message)])
        }
        return config
    }

    /// Reads every section of the root mapping.
    private static func read(_ root: Node, path: String, reader: ConfigReader) -> GatewayConfig? {
        guard let fields = reader.fields(of: root, path: "", allowed: rootKeys, near: reader.location(of: root)) else {
            return nil
        }
        let server = ServerSection.read(fields.entries["server"], reader: reader)
        let accessLog = AccessLogSection.read(fields.entries["access_log"], reader: reader)
        let upstreams = UpstreamSection.readAll(fields, reader: reader)
        let tokens = TokensSection.read(fields.entries["tokens"], reader: reader)
        let login = LoginSection.read(fields.entries["login"], reader: reader)
        let sessions = SessionsSection.read(fields.entries["sessions"], reader: reader)
        let admin = AdminSection.read(fields.entries["admin"], reader: reader)
        var signIn: LoginSection.SignIn? = nil
        if case .present(let section) = login { signIn = section.signIn }
        if sessions.isDeclared, case .present = login, signIn == nil {
            reader.report(.invalidValue, at: fields.entries["sessions"]?.keyNode, key: "sessions",
                          "sessions are made by the gateway's own sign-in; add login.users_file")
        } else if sessions.isDeclared, case .absent = login {
            reader.report(.invalidValue, at: fields.entries["sessions"]?.keyNode, key: "sessions",
                          "sessions are made by the gateway's own sign-in; add login: { users_file: ... }")
        }
        let identityHeaders = IdentityHeaderSection.readRoot(fields, reader: reader)
        let stripHeaderPrefixes = IdentityHeaderSection.readStripPrefixes(fields, reader: reader)
        let context = RouteContext(
            upstreamNames: upstreams.declaredNames, tokensDeclared: tokens.isDeclared, loginDeclared: login.isDeclared,
            sessionSignIn: signIn?.mode == .session || isInvalid(login),
            tokenSignIn: signIn?.mode == .token || isInvalid(login),
            usersFile: signIn?.usersFile != nil || isInvalid(login))
        let routes = RouteSection.readAll(fields, context: context, reader: reader)
        let assertion = AssertionSection.readRoot(fields.entries["assertion"], reader: reader)
        guard let server, let accessLog, let upstreamList = upstreams.upstreams, let identityHeaders,
            let stripHeaderPrefixes, let routes
        else { return nil }
        let tokensSection: TokensSection?
        switch tokens {
        case .absent: tokensSection = nil
        case .present(let section): tokensSection = section
        case .invalid: return nil
        }
        let loginSection: LoginSection?
        switch login {
        case .absent: loginSection = nil
        case .present(let section): loginSection = section
        case .invalid: return nil
        }
        let sessionsSection: SessionsSection?
        switch sessions {
        case .absent: sessionsSection = loginSection?.signIn == nil ? nil : .defaults
        case .present(let section): sessionsSection = section
        case .invalid: return nil
        }
        if let domain = sessionsSection?.cookie.domain {
            checkCookieDomain(domain, routes: routes, reader: reader)
        }
        let adminSection: AdminSection?
        switch admin {
        case .absent: adminSection = nil
        case .present(let section): adminSection = section
        case .invalid: return nil
        }
        var config = GatewayConfig(
            server: server, accessLog: accessLog, upstreams: upstreamList, routes: routes, sourcePath: path,
            tokens: tokensSection, identityHeaders: identityHeaders, stripHeaderPrefixes: stripHeaderPrefixes,
            login: loginSection, sessions: sessionsSection, admin: adminSection)
        switch assertion {
        case .absent: break
        case .present(let section): config.assertion = section
        case .invalid: return nil
        }
        config.checkAssertions(reader: reader)
        return config
    }

    /// `sessions.cookie.domain` must cover every host a route names (issue 12 part 6): a route on another host
    /// would never receive the cookie, a sign-in there would seem to work and then not stick.
    private static func checkCookieDomain(_ domain: String, routes: [RouteSection], reader: ConfigReader) {
        for (index, route) in routes.enumerated() {
            guard let host = route.host, let problem = CookieDomain.routeProblem(domain, host: host) else { continue }
            reader.report(.invalidValue, at: route.hostLocation ?? route.location, key: "routes[\(index)].match.host",
                          "route \"\(route.name)\": \(problem) (sessions.cookie.domain: \(domain))")
        }
    }

    /// A section that was present but refused: references to it are not reported a second time.
    private static func isInvalid<Section>(_ outcome: SectionOutcome<Section>) -> Bool {
        if case .invalid = outcome { return true }
        return false
    }

    // The three helpers below serve every YAML file the gateway reads (the config and the users file).

    /// Orders problems as the file does (file-level problems first); ties keep discovery order.
    static func sortedByLocation(_ errors: [ConfigError]) -> [ConfigError] {
        errors.enumerated().sorted { lhs, rhs in
            let left = (lhs.element.location?.line ?? 0, lhs.element.location?.column ?? 0, lhs.offset)
            let right = (rhs.element.location?.line ?? 0, rhs.element.location?.column ?? 0, rhs.offset)
            return left < right
        }.map(\.element)
    }

    /// Turns a Yams error into a located syntax error.
    static func syntaxError(_ error: any Error, path: String) -> ConfigError {
        guard let yamlError = error as? YamlError else {
            return ConfigError(code: .syntax, location: nil, key: "", message: "invalid YAML: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let location = SourceLocation(file: path, line: mark.line, column: mark.column)
            var message = "invalid YAML: \(problem)"
            if problem == "but found another document" {
                message = "invalid YAML: the file holds more than one document (a second \"---\"); keep one"
            } else if let context {
                message += " (\(context.text) at line \(context.mark.line))"
            }
            return ConfigError(code: .syntax, location: location, key: "", message: message)
        case .reader(let problem, let offset, _, let yaml):
            let location = offset.map { characterLocation($0, in: yaml, path: path) }
            return ConfigError(code: .syntax, location: location, key: "", message: "invalid YAML: \(problem)")
        default:
            return ConfigError(code: .syntax, location: nil, key: "", message: "invalid YAML: \(yamlError)")
        }
    }

    /// The line and column of the character at `offset` (Yams' reader errors give an offset).
    private static func characterLocation(_ offset: Int, in text: String, path: String) -> SourceLocation {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character.isNewline {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return SourceLocation(file: path, line: line, column: column)
    }

    /// Reads a whole file as UTF-8, refusing directories, oversized files and invalid UTF-8.
    static func readFile(_ path: String) -> ParseOutcome<String> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .invalid("cannot read \(path): no such file")
        }
        if isDirectory.boolValue {
            return .invalid("cannot read \(path): it is a directory")
        }
        guard FileManager.default.isReadableFile(atPath: path),
            let data = FileManager.default.contents(atPath: path)
        else {
            return .invalid("cannot read \(path): permission denied or I/O error")
        }
        if data.count > maximumFileSize {
            return .invalid("cannot read \(path): larger than \(maximumFileSize >> 20) MiB")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            return .invalid("cannot read \(path): not valid UTF-8")
        }
        return .parsed(text)
    }
}
