/// The sign-in page: one self-contained HTML document (inline style, no script, no external asset), served
/// with a Content-Security-Policy that allows nothing else and forbids framing (no clickjacking of the form).
enum LoginPage {
    /// The shared page headers (`PageShell`); the name other pages of the sign-in use.
    static let securityHeaders = PageShell.securityHeaders

    /// The page, with `rd` carried in a hidden field and an optional error line.
    /// `providers`: (title, link) of each OpenID provider, shown as links above the form; `form: false` leaves the
    /// user name and password out (no users file).
    static func render(action: String, rd: String?, error: String?, user: String?,
                       providers: [(title: String, link: String)] = [], form: Bool = true) -> String {
        var page = PageShell.open(title: "Sign in", style: Self.style)
        if !form {
            page += "<div class=\"providers\">\n<h1>Sign in</h1>\n"
            if let error { page += "<p class=\"error\" role=\"alert\">\(escape(error))</p>\n" }
            for provider in providers { page += "<a href=\"\(escape(provider.link))\">\(escape(provider.title))</a>\n" }
            return page + "</div></body></html>\n"
        }
        page += "<form method=\"post\" action=\"\(escape(action))\">\n<h1>Sign in</h1>\n"
        if !providers.isEmpty {
            page += "<div class=\"providers\">\n"
            for provider in providers { page += "<a href=\"\(escape(provider.link))\">\(escape(provider.title))</a>\n" }
            page += "</div>\n"
        }
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

    /// HTML-escaping as every page does it (`PageShell.escape`).
    static func escape(_ text: String) -> String { PageShell.escape(text) }

    /// The opening of every sign-in page (the login and second-factor pages): head, inline style, `<body>`.
    static func document(title: String) -> String { PageShell.open(title: title, style: style) }

    private static let style = """
            body{font-family:system-ui,sans-serif;background:#f4f5f7;display:flex;justify-content:center;margin:0;padding-top:12vh}
            form,.providers{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);width:18rem}
            h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .3rem;font-size:.9rem}
            input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
            button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem}
            .error{color:#b00020;font-size:.9rem}
            .providers a{display:block;margin:.5rem 0;padding:.6rem;text-align:center;border:1px solid #888;border-radius:4px;color:#000;text-decoration:none}
            """
}
