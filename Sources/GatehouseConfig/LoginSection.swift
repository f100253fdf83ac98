import Yams

/// `login`: where browsers are sent to sign in.
///
/// In this build it holds only `url`, the target of `unauthenticated: login`; the gateway's own
/// sign-in (users file, session or token mode) adds keys here later. Invariant: `url` is an
/// absolute `http`/`https` URL with a host and no user info, or a path starting with a single
/// `/`; printable ASCII only (it goes into a `Location` header).
package struct LoginSection: Sendable, Equatable {
    /// Where `unauthenticated: login` redirects browsers.
    package let url: String

    /// Creates a login section.
    ///
    /// - Parameter url: The login URL (validated).
    package init(url: String) {
        self.url = url
    }

    /// The keys `login` accepts.
    static let keys = ["url"]

    /// Reads `login`; absent or null means no login page (no route may use `unauthenticated: login`).
    ///
    /// - Parameters:
    ///   - entry: The `login` entry of the root mapping, if present.
    ///   - reader: Collects problems.
    /// - Returns: The section, absent, or invalid (reported).
    static func read(_ entry: YAMLEntry?, reader: ConfigReader) -> SectionOutcome<LoginSection> {
        guard let entry, !ConfigReader.isNull(entry.value) else { return .absent }
        guard
            let fields = reader.fields(
                of: entry.value, path: "login", allowed: keys, near: reader.location(of: entry.keyNode)),
            let node = reader.required(fields, "url"),
            let url = reader.parse(
                node, path: fields.path("url"), expected: "a URL such as https://sso.example.com/login",
                with: parseURL)
        else { return .invalid }
        return .present(LoginSection(url: url))
    }

    /// Checks a login URL: `http(s)://host[:port][/path][?query]` or `/path`.
    ///
    /// `//host/...` and `/\host` are refused: browsers read both as another host.
    static func parseURL(_ text: String) -> ParseOutcome<String> {
        guard !text.isEmpty else {
            return .invalid("expected an absolute http(s) URL or a path starting with \"/\", got an empty string")
        }
        guard text.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) }) else {
            return .invalid("must contain only visible ASCII characters (no blanks); percent-encode the others")
        }
        if text.hasPrefix("/") {
            if text.hasPrefix("//") || text.hasPrefix("/\\") {
                return .invalid(
                    "\"\(text)\" is read by browsers as another host; write the absolute URL, as in https://host/path"
                )
            }
            return .parsed(text)
        }
        let lowered = text.lowercased()
        guard let scheme = ["https://", "http://"].first(where: { lowered.hasPrefix($0) }) else {
            return .invalid("expected an absolute http(s) URL or a path starting with \"/\", got \"\(text)\"")
        }
        let rest = text.dropFirst(scheme.count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.isEmpty {
            return .invalid("\"\(text)\" has no host")
        }
        if authority.contains("@") {
            return .invalid("\"\(text)\": user info (user@host) is not allowed in the login URL")
        }
        if authority.contains("\\") {
            return .invalid("\"\(text)\": a backslash is not allowed in the host")
        }
        return .parsed(text)
    }
}
