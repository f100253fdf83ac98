/// The sign-in page: one self-contained HTML document (inline style, no script, no external asset), served
/// with a Content-Security-Policy that allows nothing else and forbids framing (no clickjacking of the form).
enum LoginPage {
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy",
         "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Frame-Options", "DENY"),
        // Not the base answers' `no-referrer`: under it a browser sends `Origin: null` with the form's POST, and
        // where it sends no Sec-Fetch-Site either (plain http to a host name) the cross-site check refuses the
        // page's own sign-in. `same-origin` still sends no Referer (and no `rd`) to any other site.
        ("Referrer-Policy", "same-origin"),
    ]

    /// The page, with `rd` carried in a hidden field and an optional error line.
    static func render(action: String, rd: String?, error: String?, user: String?) -> String {
        var page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Sign in</title>
            <style>
            body{font-family:system-ui,sans-serif;background:#f4f5f7;display:flex;justify-content:center;margin:0;padding-top:12vh}
            form{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);width:18rem}
            h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .3rem;font-size:.9rem}
            input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
            button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem}
            .error{color:#b00020;font-size:.9rem}
            </style></head><body>
            <form method="post" action="\(escape(action))">
            <h1>Sign in</h1>

            """
        if let error { page += "<p class=\"error\" role=\"alert\">\(escape(error))</p>\n" }
        // After a refusal the name is filled in again: the cursor goes where the person types next.
        let focusName = (user ?? "").isEmpty ? " autofocus" : ""
        let focusPassword = focusName.isEmpty ? " autofocus" : ""
        page += """
            <label for="username">User name</label>
            <input id="username" name="username" autocomplete="username" required\(focusName) value="\(escape(user ?? ""))">
            <label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required\(focusPassword)>

            """
        if let rd { page += "<input type=\"hidden\" name=\"rd\" value=\"\(escape(rd))\">\n" }
        page += "<button type=\"submit\">Sign in</button>\n</form></body></html>\n"
        return page
    }

    /// HTML-escapes text for element content and double-quoted attributes.
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
                if scalar.value < 0x20 || scalar.value == 0x7f { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
