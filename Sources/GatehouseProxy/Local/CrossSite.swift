extension LocalRequest {
    /// Another site made the browser send this request (SECURITY: `Sec-Fetch-Site` first, then `Origin`).
    /// Clients that send neither (curl, API clients, Prometheus) are not browsers and are let through.
    var isCrossSite: Bool {
        if let site = header("sec-fetch-site")?.lowercased() {
            return site != "same-origin" && site != "none"
        }
        guard let origin = header("origin") else { return false }
        let host = header("host")?.lowercased() ?? ""
        let lowered = origin.lowercased()
        for scheme in ["https://", "http://"] where lowered.hasPrefix(scheme) {
            if lowered.dropFirst(scheme.count) == host, !host.isEmpty { return false }
        }
        return true
    }

    /// The 403 for a cross-site request to one of the gateway's own state-changing endpoints.
    static var crossSiteAnswer: LocalResponse { .error(403, "cross_site_request",
                                                          description: "this request must come from this site") }
}
