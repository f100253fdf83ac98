import GatehouseSessions

/// The signed-in user's own page (`/.gatehouse/account`): who I am, my devices, sign-out buttons. Same rules as
/// the login page: one self-contained document, no script, the login page's CSP (`LoginPage.securityHeaders`).
/// Every user-controlled text (names, email, groups, user agents, addresses) goes through `LoginPage.escape`.
enum AccountPage {
    static let path = "/.gatehouse/account"

    /// What a `?done=` after a 303 says. Only these codes: the page never echoes text from the URL.
    static func notice(_ code: String?) -> String? {
        switch code {
        case "device": return "That device was signed out."
        case "others": return "All your other devices were signed out."
        case "none": return "There were no other devices to sign out."
        default: return nil
        }
    }

    static func render(user: String, email: String?, groups: [String], sessions: [SessionRecord], current: String,
                       token: String, notice: String?, now: Int64) -> String {
        let esc = LoginPage.escape
        var page = PageShell.open(title: "Your account", style: PageShell.panelStyle) + "<main>\n<h1>Your account</h1>\n"
        if let notice { page += "<p class=\"notice\" role=\"status\">\(esc(notice))</p>\n" }
        page += "<section><dl>\n<dt>User</dt><dd>\(esc(user))</dd>\n"
        if let email { page += "<dt>Email</dt><dd>\(esc(email))</dd>\n" }
        if !groups.isEmpty { page += "<dt>Groups</dt><dd>\(esc(groups.joined(separator: ", ")))</dd>\n" }
        page += "</dl></section>\n<section><h2>Where you are signed in</h2>\n<ul>\n"
        // This device first, then the most recently active.
        let ordered = sessions.sorted { a, b in
            if (a.handle == current) != (b.handle == current) { return a.handle == current }
            return a.lastSeenAt > b.lastSeenAt
        }
        for record in ordered {
            let this = record.handle == current
            page += "<li><div class=\"device\">\(esc(UserAgentSummary.describe(record.userAgent)))"
            if this { page += " <span class=\"this\">(this device)</span>" }
            page += "</div>\n<div class=\"meta\">"
            if !record.clientAddress.isEmpty { page += "From \(esc(record.clientAddress)) · " }
            page += "signed in \(HumanTime.utc(record.createdAt))"
            // How (issue 14): the second factor is worth showing; a provider sign-in carries no amr.
            if record.amr.contains("otp") { page += " with password and code" }
            else if record.amr == ["pwd"] { page += " with password" }
            page += " · "
            page += "last active \(HumanTime.ago(max(0, now - record.lastSeenAt))) · "
            page += "expires \(HumanTime.within(max(0, record.endsAt - now)))</div>\n"
            if !this {
                page += form(action: "device", token: token, label: "Sign out this device",
                             extra: "<input type=\"hidden\" name=\"handle\" value=\"\(esc(record.handle))\">")
            }
            page += "</li>\n"
        }
        page += "</ul>\n"
        if sessions.count > 1 {
            page += form(action: "others", token: token, label: "Sign out everywhere else")
        }
        page += "</section>\n<section>\n" + form(action: "signout", token: token, label: "Sign out") + "</section>\n"
        page += "</main></body></html>\n"
        return page
    }

    private static func form(action: String, token: String, label: String, extra: String = "") -> String {
        "<form method=\"post\" action=\"\(path)\"><input type=\"hidden\" name=\"action\" value=\"\(action)\">"
            + "<input type=\"hidden\" name=\"form_token\" value=\"\(LoginPage.escape(token))\">\(extra)"
            + "<button type=\"submit\">\(label)</button></form>\n"
    }
}
