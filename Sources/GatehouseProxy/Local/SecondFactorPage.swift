/// The second sign-in step's page: one field for the six digits of an authenticator app, in the login page's
/// self-contained style and under its Content-Security-Policy. No script: `autocomplete="one-time-code"` lets a
/// phone offer the code, `inputmode="numeric"` brings up the digit keyboard.
enum SecondFactorPage {
    static let path = "/.gatehouse/login/second-factor"

    /// The page; `error` is shown above the field (a wrong or reused code, a throttled attempt).
    static func render(error: String?) -> String {
        var page = LoginPage.document(title: "Enter your code")
        page += "<form method=\"post\" action=\"\(path)\">\n<h1>Two-step sign-in</h1>\n"
        if let error { page += "<p class=\"error\" role=\"alert\">\(LoginPage.escape(error))</p>\n" }
        page += """
            <label for="code">Code from your authenticator app</label>
            <input id="code" name="code" autocomplete="one-time-code" inputmode="numeric" pattern="[0-9 ]*" \
            maxlength="7" required autofocus>
            <button type="submit">Verify</button>
            <p><a href="/.gatehouse/login">Start again</a></p>
            </form></body></html>

            """
        return page
    }
}
