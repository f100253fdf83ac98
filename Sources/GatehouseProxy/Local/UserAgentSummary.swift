/// A device in words a person recognises: "Firefox on Windows", "Safari on iPhone". Only the common browsers
/// and systems are named; anything else is "Unknown browser" / "unknown system". Order matters: Edge and Opera
/// also say "Chrome", Chrome also says "Safari", iPhones say "like Mac OS X", Android says "Linux".
enum UserAgentSummary {
    static func describe(_ userAgent: String) -> String {
        let ua = userAgent.prefix(512)
        func has(_ s: String) -> Bool { ua.contains(s) }
        let browser: String
        if has("Edg/") || has("EdgA/") || has("EdgiOS/") { browser = "Edge" }
        else if has("OPR/") || has("Opera") { browser = "Opera" }
        else if has("SamsungBrowser/") { browser = "Samsung Internet" }
        else if has("Firefox/") || has("FxiOS/") { browser = "Firefox" }
        else if has("CriOS/") || has("Chrome/") || has("Chromium/") { browser = "Chrome" }
        else if has("Safari/") && has("Version/") { browser = "Safari" }
        else if ua.hasPrefix("curl/") { browser = "curl" }
        else { browser = "Unknown browser" }
        let system: String
        if has("iPhone") { system = "iPhone" }
        else if has("iPad") { system = "iPad" }
        else if has("Android") { system = "Android" }
        else if has("CrOS") { system = "ChromeOS" }
        else if has("Windows") { system = "Windows" }
        else if has("Mac OS X") || has("Macintosh") { system = "macOS" }
        else if has("Linux") || has("X11") { system = "Linux" }
        else { system = "unknown system" }
        return "\(browser) on \(system)"
    }
}

/// Times as the account page shows them.
enum HumanTime {
    /// "just now", "3 minutes ago", "2 hours ago", "5 days ago".
    static func ago(_ seconds: Int64) -> String {
        if seconds < 60 { return "just now" }
        return "\(amount(seconds)) ago"
    }

    /// "in 23 hours", "in 4 days".
    static func within(_ seconds: Int64) -> String {
        seconds < 60 ? "in under a minute" : "in \(amount(seconds))"
    }

    private static func amount(_ seconds: Int64) -> String {
        func unit(_ n: Int64, _ name: String) -> String { n == 1 ? "1 \(name)" : "\(n) \(name)s" }
        if seconds < 3600 { return unit(seconds / 60, "minute") }
        if seconds < 86_400 { return unit(seconds / 3600, "hour") }
        return unit(seconds / 86_400, "day")
    }

    /// "2026-12-07 17:50 UTC" (civil date from Unix days, proleptic Gregorian).
    static func utc(_ unix: Int64) -> String {
        let days = unix >= 0 ? unix / 86_400 : (unix - 86_399) / 86_400
        let secondsOfDay = unix - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(secondsOfDay / 3600)):\(two(secondsOfDay % 3600 / 60)) UTC"
    }
}
