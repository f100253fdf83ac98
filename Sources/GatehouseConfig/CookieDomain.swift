/// `sessions.cookie.domain`: the parent domain a session cookie is shared across (`Domain=example.com`).
///
/// A cookie with `Domain` goes to that host and every host below it, so a wrong value hands the session to
/// hosts the operator does not run. The value is refused unless it is a syntactically valid, lowercase DNS name
/// of at least two labels (IDNs as A-labels, `xn--...`), not an IP address, and not a public suffix. The routes'
/// hosts must all lie at or below it (checked by ``routeProblem(_:host:)`` once routes are read).
///
/// Public suffixes: there is no Public Suffix List package on the build machines and the list (~10 000 rules,
/// changing weekly) does not belong in a binary that cannot update it, so ``publicSuffixes`` is a compact subset:
/// the generic and common country TLDs are covered by the two-label rule (a single label is always refused), and
/// the list adds the multi-label registry suffixes (`co.uk`, `com.au`, ...) and the best-known shared hosting
/// suffixes (`github.io`, `herokuapp.com`, ...), where a cookie on the suffix would reach other customers' sites.
/// A suffix missing here is still refused by browsers (they use the full list); the check exists to catch the
/// mistake at load time with a clear message instead of a cookie that silently never sticks.
package enum CookieDomain {
    /// Multi-label public suffixes (a subset of the Public Suffix List; see the type's comment).
    static let publicSuffixes: Set<String> = [
        // Registry second levels of common country codes.
        "co.uk", "org.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk", "sch.uk", "ac.uk", "gov.uk", "nhs.uk", "police.uk",
        "com.au", "net.au", "org.au", "edu.au", "gov.au", "asn.au", "id.au",
        "co.nz", "net.nz", "org.nz", "govt.nz", "ac.nz", "geek.nz",
        "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "gr.jp", "ed.jp", "lg.jp",
        "co.kr", "or.kr", "ne.kr", "go.kr", "ac.kr",
        "com.br", "net.br", "org.br", "gov.br", "edu.br",
        "com.cn", "net.cn", "org.cn", "gov.cn", "edu.cn",
        "com.hk", "net.hk", "org.hk", "edu.hk", "gov.hk",
        "com.tw", "net.tw", "org.tw", "edu.tw", "gov.tw",
        "com.sg", "net.sg", "org.sg", "edu.sg", "gov.sg",
        "com.mx", "net.mx", "org.mx", "gob.mx", "edu.mx",
        "com.ar", "net.ar", "org.ar", "gob.ar",
        "com.tr", "net.tr", "org.tr", "gov.tr", "edu.tr",
        "co.in", "net.in", "org.in", "firm.in", "gen.in", "ind.in", "ac.in", "gov.in", "edu.in",
        "co.za", "org.za", "net.za", "gov.za", "ac.za",
        "co.il", "org.il", "net.il", "ac.il", "gov.il",
        "com.ru", "net.ru", "org.ru", "com.ua", "net.ua", "org.ua", "com.pl", "net.pl", "org.pl",
        "co.id", "or.id", "ac.id", "go.id", "com.my", "net.my", "org.my", "com.ph", "com.vn", "com.pk",
        "com.eg", "com.sa", "com.ng", "co.ke", "co.th", "in.th", "ac.th", "com.co", "com.pe", "com.ve",
        "co.at", "or.at", "com.es", "nom.es", "org.es", "com.pt", "com.gr", "com.de",
        "gouv.fr", "asso.fr", "com.fr",
        // Shared hosting: a cookie here would reach every customer's site.
        "github.io", "githubusercontent.com", "gitlab.io", "herokuapp.com", "herokussl.com",
        "appspot.com", "cloudfunctions.net", "web.app", "firebaseapp.com", "pages.dev", "workers.dev",
        "netlify.app", "vercel.app", "now.sh", "azurewebsites.net", "cloudapp.net",
        "azurestaticapps.net", "blob.core.windows.net", "elasticbeanstalk.com",
        "s3.amazonaws.com", "cloudfront.net", "fly.dev", "onrender.com", "glitch.me", "repl.co",
        "blogspot.com", "wordpress.com", "tumblr.com", "surge.sh", "ngrok.io", "ngrok-free.app",
        "readthedocs.io", "myshopify.com", "digitaloceanspaces.com", "duckdns.org", "no-ip.org",
        "dyndns.org", "ddns.net",
    ]

    /// Why `text` cannot be a cookie domain, or nil.
    ///
    /// - Parameter text: The value as written.
    /// - Returns: The reason, naming what to write instead.
    package static func problem(_ text: String) -> String? {
        if text.isEmpty { return "expected a domain such as example.com" }
        if !text.unicodeScalars.allSatisfy(\.isASCII) {
            return "\"\(text)\" is not ASCII: write an internationalised domain as its A-labels (xn--...)"
        }
        if text.hasPrefix(".") {
            return "\"\(text)\": give the domain without a leading dot (example.com; browsers ignore the dot)"
        }
        if text.hasSuffix(".") {
            return "\"\(text)\": give the domain without a trailing dot (browsers refuse Domain=example.com.)"
        }
        if text != text.lowercased() {
            return "\"\(text)\": write the domain in lowercase (\(text.lowercased()))"
        }
        if text.contains(":") || text.contains("[") {
            return "\"\(text)\" is an IP address or has a port; a cookie domain is a DNS name such as example.com"
        }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        if text.utf8.count > 253 { return "\"\(text)\" is longer than 253 characters" }
        for label in labels {
            let ldh = !label.isEmpty && label.utf8.count <= 63
                && label.utf8.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2d }
            if !ldh || label.first == "-" || label.last == "-" {
                return "\"\(text)\" is not a valid domain name (labels of a-z, 0-9 and -, 1 to 63 characters)"
            }
        }
        // An all-digit last label is an IPv4 address (or a decimal spelling of one); no TLD is numeric.
        if let last = labels.last, last.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            return "\"\(text)\" is an IP address; a cookie domain is a DNS name such as example.com"
        }
        if labels.count < 2 {
            return "\"\(text)\" is a single label (a top-level domain or a local name); browsers refuse it as a "
                + "cookie domain: give a registered domain such as example.com"
        }
        if publicSuffixes.contains(text) {
            return "\"\(text)\" is a public suffix: a cookie there would reach every site registered under it; "
                + "give your own domain below it"
        }
        return nil
    }

    /// True when `host` (lowercase) is `domain` or below it.
    package static func covers(_ domain: String, host: String) -> Bool {
        host == domain || host.hasSuffix("." + domain)
    }

    /// Why route host `host` is not served by a cookie on `domain`, or nil.
    static func routeProblem(_ domain: String, host: HostPattern) -> String? {
        switch host {
        case .exact(let name):
            if covers(domain, host: name) { return nil }
            return "host \(name) is not \(domain) or below it, so the session cookie (Domain=\(domain)) never "
                + "reaches it"
        case .wildcard(let suffix):
            // ".example.com" covers "*.example.com"; ".wiki.example.com" too.
            if covers(domain, host: String(suffix.dropFirst())) { return nil }
            return "host *\(suffix) is not below \(domain), so the session cookie (Domain=\(domain)) never reaches it"
        }
    }
}
