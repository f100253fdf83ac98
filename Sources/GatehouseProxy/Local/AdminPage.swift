import GatehouseHTTP
import GatehouseSessions

/// The admin page's HTML (`/admin/` on the admin listener): the user list, one user's sessions, the sign-in form.
/// Same rules as the login and account pages (`PageShell`): one self-contained document, no script, the strict
/// CSP, readable on a phone (one column of panels, no table). Every user-controlled text (user names, e-mail,
/// groups, user agents, addresses) is escaped; a user agent is cut to `userAgentShown` characters.
enum AdminPage {
    static let path = "/admin/"
    static let userPath = "/admin/user"
    /// Characters of a raw user agent shown under its summary (the store keeps 256 bytes).
    static let userAgentShown = 160

    /// One row of the user list: from the users file, the store's signed-in users, or its disabled set.
    struct UserRow {
        let name: String
        /// Listed in the users file (otherwise: signed in through an OpenID provider).
        let inUsersFile: Bool
        let sessions: Int
        /// Latest activity of a live session; nil without one.
        let lastSeenAt: Int64?
        /// Disabled through the admin (the store's flag, which `enable` lifts).
        let disabledByAdmin: Bool
        /// `disabled: true` in the users file (only editing the file lifts it).
        let disabledInFile: Bool
    }

    /// What a `?done=` after a 303 says. Only these codes: the page never echoes text from the URL.
    static func notice(_ code: String?) -> String? {
        switch code {
        case "everywhere": return "The user was signed out everywhere."
        case "disabled": return "The user was disabled and signed out everywhere."
        case "enabled": return "The user was enabled again."
        case "session": return "That session was signed out."
        case "signedin": return "Signed in to the admin page."
        default: return nil
        }
    }

    private static let style = PageShell.panelStyle + """

        a{color:#0b57d0}.tag{font-size:.75rem;font-weight:600;padding:.1rem .4rem;border-radius:4px;margin-left:.3rem}
        .off{background:#fde7e9;color:#8a1020}.source{background:#eef1f5;color:#333}
        .ua{font-size:.75rem;color:#666;overflow-wrap:anywhere}
        label{display:block;margin:.8rem 0 .3rem;font-size:.9rem}
        input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
        .error{color:#b00020;font-size:.9rem}
        """

    /// The user list.
    static func users(_ rows: [UserRow], truncated: Bool, token: String, signOut: Bool, notice: String?,
                      now: Int64) -> String {
        let esc = PageShell.escape
        var page = head("Gatehouse admin", notice: notice)
        let signedIn = rows.reduce(0) { $0 + $1.sessions }
        page += "<section><h2>Users</h2>\n<p class=\"meta\">\(rows.count) user\(rows.count == 1 ? "" : "s") · "
            + "\(signedIn) live session\(signedIn == 1 ? "" : "s")</p>\n<ul>\n"
        for row in rows {
            let link = userPath + "?name=" + percentEncoded(row.name)
            page += "<li><div class=\"device\"><a href=\"\(esc(link))\">\(esc(row.name))</a>" + tags(row) + "</div>\n"
            page += "<div class=\"meta\">\(row.sessions) session\(row.sessions == 1 ? "" : "s")"
            if let last = row.lastSeenAt { page += " · last active " + ago(last, now: now) }
            page += "</div>\n" + buttons(row, token: token, back: "list") + "</li>\n"
        }
        if rows.isEmpty { page += "<li>Nobody is signed in and the users file lists nobody.</li>\n" }
        page += "</ul>\n"
        if truncated {
            page += "<p class=\"meta\">More users hold sessions than this page lists; open one by name: "
                + "<code>\(userPath)?name=NAME</code>.</p>\n"
        }
        page += "</section>\n"
        return page + footer(token: token, signOut: signOut)
    }

    /// One user: where they come from, their state, every live session with its own sign-out.
    static func user(_ row: UserRow, account: UserAccount?, sessions: [SessionRecord], token: String, signOut: Bool,
                     notice: String?, now: Int64) -> String {
        let esc = PageShell.escape
        var page = head("User \(row.name) · Gatehouse admin", notice: notice, heading: row.name)
        page += "<p><a href=\"\(path)\">All users</a></p>\n<section><dl>\n"
        page += "<dt>Source</dt><dd>\(row.inUsersFile ? "users file" : "signed in through an identity provider")</dd>\n"
        if let email = account?.email ?? sessions.first?.email { page += "<dt>Email</dt><dd>\(esc(email))</dd>\n" }
        let groups = account?.groups ?? sessions.first?.groups ?? []
        if !groups.isEmpty { page += "<dt>Groups</dt><dd>\(esc(groups.joined(separator: ", ")))</dd>\n" }
        page += "<dt>State</dt><dd>\(state(row))</dd>\n</dl>\n" + buttons(row, token: token, back: "user")
        page += "</section>\n<section><h2>Sessions</h2>\n<ul>\n"
        for record in sessions.sorted(by: { $0.lastSeenAt > $1.lastSeenAt }) {
            page += "<li><div class=\"device\">\(esc(UserAgentSummary.describe(record.userAgent)))"
            if record.kind == .token { page += "<span class=\"tag source\">token</span>" }
            page += "</div>\n"
            if !record.userAgent.isEmpty {
                var agent = String(record.userAgent.prefix(userAgentShown))
                if agent.count < record.userAgent.count { agent += "…" }
                page += "<div class=\"ua\">\(esc(agent))</div>\n"
            }
            page += "<div class=\"meta\">"
            if !record.clientAddress.isEmpty { page += "From \(esc(record.clientAddress)) · " }
            page += "signed in \(HumanTime.utc(record.createdAt)) · last active \(ago(record.lastSeenAt, now: now)) · "
            page += "expires <span title=\"\(HumanTime.utc(record.endsAt))\">"
                + "\(HumanTime.within(max(0, record.endsAt - now)))</span></div>\n"
            page += form("session", token: token, label: "Sign out this session", fields: [
                ("user", row.name), ("handle", record.handle), ("back", "user"),
            ])
            page += "</li>\n"
        }
        if sessions.isEmpty { page += "<li>No live session.</li>\n" }
        page += "</ul></section>\n"
        return page + footer(token: token, signOut: signOut)
    }

    /// The sign-in form (`admin.token_file` is set and the browser holds no admin cookie yet).
    static func signIn(error: String?) -> String {
        var page = head("Gatehouse admin", notice: nil)
        page += "<section><form method=\"post\" action=\"\(path)\">\n"
            + "<input type=\"hidden\" name=\"action\" value=\"signin\">\n"
            + "<p>This listener needs the admin token (the contents of <code>admin.token_file</code>).</p>\n"
        if let error { page += "<p class=\"error\" role=\"alert\">\(PageShell.escape(error))</p>\n" }
        page += "<label for=\"token\">Admin token</label>\n"
            + "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\n"
            + "<button type=\"submit\">Sign in</button>\n</form></section>\n</main></body></html>\n"
        return page
    }

    /// A short page saying what went wrong, with a link back to the user list.
    static func message(_ text: String) -> String {
        PageShell.message(title: "Gatehouse admin", text, back: (path, "Back to the users"))
    }

    // MARK: Pieces

    private static func head(_ title: String, notice: String?, heading: String = "Gatehouse admin") -> String {
        var page = PageShell.open(title: title, style: style) + "<main>\n<h1>\(PageShell.escape(heading))</h1>\n"
        if let notice { page += "<p class=\"notice\" role=\"status\">\(PageShell.escape(notice))</p>\n" }
        return page
    }

    private static func footer(token: String, signOut: Bool) -> String {
        guard signOut else { return "</main></body></html>\n" }
        return "<section>\n" + form("signout", token: token, label: "Sign out of the admin page", fields: [])
            + "</section>\n</main></body></html>\n"
    }

    private static func tags(_ row: UserRow) -> String {
        var out = row.inUsersFile ? "" : "<span class=\"tag source\">provider</span>"
        if row.disabledByAdmin || row.disabledInFile { out += "<span class=\"tag off\">disabled</span>" }
        return out
    }

    private static func state(_ row: UserRow) -> String {
        if row.disabledInFile { return "disabled in the users file" }
        return row.disabledByAdmin ? "disabled by the admin" : "enabled"
    }

    /// Sign out everywhere (when there is a session) and disable / enable. A user disabled by the users file
    /// gets no enable button: only the file can lift that.
    private static func buttons(_ row: UserRow, token: String, back: String) -> String {
        let fields = [("user", row.name), ("back", back)]
        var out = ""
        if row.sessions > 0 { out += form("everywhere", token: token, label: "Sign out everywhere", fields: fields) }
        if row.disabledByAdmin {
            out += form("enable", token: token, label: "Enable", fields: fields)
        } else if !row.disabledInFile {
            out += form("disable", token: token, label: "Disable", fields: fields)
        }
        return out
    }

    private static func form(_ action: String, token: String, label: String, fields: [(String, String)]) -> String {
        var out = "<form method=\"post\" action=\"\(path)\"><input type=\"hidden\" name=\"action\" value=\"\(action)\">"
            + "<input type=\"hidden\" name=\"form_token\" value=\"\(PageShell.escape(token))\">"
        for (name, value) in fields {
            out += "<input type=\"hidden\" name=\"\(name)\" value=\"\(PageShell.escape(value))\">"
        }
        return out + "<button type=\"submit\">\(label)</button></form>\n"
    }

    /// "3 minutes ago", with the absolute time as its title.
    private static func ago(_ moment: Int64, now: Int64) -> String {
        "<span title=\"\(HumanTime.utc(moment))\">\(HumanTime.ago(max(0, now - moment)))</span>"
    }

    /// `text` for a query value: unreserved characters as they are, every other byte as `%XX`.
    static func percentEncoded(_ text: String) -> String { PercentEncoding.encoded(text) }
}
