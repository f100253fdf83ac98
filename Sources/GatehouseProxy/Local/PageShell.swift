/// What every HTML page of the gateway shares (login, account, admin): the document head, the escaping of
/// user-controlled text, and the headers that keep each page self-contained (no script, no external asset,
/// no framing).
enum PageShell {
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy",
         "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Frame-Options", "DENY"),
        // Not the base answers' `no-referrer`: under it a browser sends `Origin: null` with the form's POST, and
        // where it sends no Sec-Fetch-Site either (plain http to a host name) the cross-site check refuses the
        // page's own sign-in. `same-origin` still sends no Referer (and no `rd`) to any other site.
        ("Referrer-Policy", "same-origin"),
    ]

    /// The style of the card pages (account, admin): a column of white panels, lists of rows, inline forms.
    static let panelStyle = """
        body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:1rem}
        main{max-width:40rem;margin:0 auto}
        section{background:#fff;padding:1.2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);margin-bottom:1rem}
        h1{font-size:1.3rem;margin:.5rem 0 1rem}h2{font-size:1.1rem;margin:0 0 .8rem}
        dl{margin:0}dt{font-size:.8rem;color:#555}dd{margin:0 0 .6rem;overflow-wrap:anywhere}
        ul{list-style:none;margin:0;padding:0}li{border-top:1px solid #ddd;padding:.8rem 0}
        li:first-child{border-top:0}.device{font-weight:600}.this{color:#0a6b2d;font-size:.85rem}
        .meta{font-size:.85rem;color:#444;overflow-wrap:anywhere}
        form{display:inline}button{margin-top:.5rem;padding:.5rem .8rem;font-size:.95rem}
        .notice{background:#e6f4ea;color:#0a4b22;padding:.6rem;border-radius:6px}
        """

    /// `<!doctype html>` up to and including `<body>`: charset, phone viewport, `title` (escaped), `style`.
    static func open(title: String, style: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        \(style)
        </style></head><body>

        """
    }

    /// A short page saying `text` (escaped), with a link back to `back` (a path of the gateway's own).
    static func message(title: String, _ text: String, back: (path: String, label: String)) -> String {
        open(title: title, style: "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:2rem}")
            + "<p role=\"alert\">\(escape(text))</p><p><a href=\"\(escape(back.path))\">\(escape(back.label))</a></p>\n"
            + "</body></html>\n"
    }

    /// HTML-escapes text for element content and double-quoted attributes; control characters are dropped.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f || (0x80...0x9f).contains(scalar.value) { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
