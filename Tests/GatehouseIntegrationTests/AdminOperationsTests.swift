import Foundation
import GatehouseTestSupport
import Testing

@Suite("Admin listener: metrics, readiness, reload")
struct AdminOperationsTests {
    /// The value of one sample line (`name{labels} value`) in a Prometheus text body, 0 when absent.
    static func sample(_ text: String, _ series: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? -1
        }
        return 0
    }

    static func scrape(_ gw: SessionGateway) throws -> String {
        let response = try gw.sendAdmin("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        return response.bodyText
    }

    @Test("metrics count requests by route and class, auth refusals by reason, sign-ins, latency histograms")
    func metricsFollowOutcomes() throws {
        let gw = try SessionFixture.gateway()
        let before = try Self.scrape(gw)
        #expect(before.contains("# TYPE gatehouse_request_duration_seconds histogram"))
        #expect(Self.sample(before, "gatehouse_session_store_up") == 1)

        #expect(try gw.get("/hello").status == 200)                                       // public, 2xx
        #expect(try gw.get("/app/x").status == 401)                                        // no credential
        #expect(try gw.get("/app/x", headers: "Cookie: gatehouse_session=\(String(repeating: "A", count: 43))\r\n").status == 401)
        #expect(try gw.signIn("alice", "wrong").status == 401)                             // failed sign-in
        let cookie = try SessionFixture.aliceCookie(gw)                                    // sign-in
        #expect(try gw.get("/app/y", headers: "Cookie: \(cookie)\r\n").status == 200)    // session accepted

        // The access log is written after the answer; the counters with it: poll briefly.
        var after = ""
        let deadline = Date().addingTimeInterval(5)
        repeat {
            after = try Self.scrape(gw)
            if Self.sample(after, "gatehouse_auth_accepted_total") >= 1 { break }
            usleep(50_000)
        } while Date() < deadline
        func delta(_ series: String) -> Double { Self.sample(after, series) - Self.sample(before, series) }
        #expect(delta(#"gatehouse_route_requests_total{route="public",class="2xx"}"#) == 1)
        #expect(delta(#"gatehouse_route_requests_total{route="app",class="4xx"}"#) == 2)
        #expect(delta(#"gatehouse_route_requests_total{route="app",class="2xx"}"#) == 1)
        #expect(delta(#"gatehouse_auth_refusals_total{reason="no-credential"}"#) == 1)
        #expect(delta(#"gatehouse_auth_refusals_total{reason="session-unknown"}"#) == 1)
        #expect(delta("gatehouse_sign_in_failures_total") == 1)
        #expect(delta("gatehouse_sign_ins_total") == 1)
        #expect(delta("gatehouse_auth_accepted_total") == 1)
        #expect(delta("gatehouse_session_lookups_total") == 2)
        #expect(delta(#"gatehouse_request_duration_seconds_count{route="public"}"#) == 1)
        #expect(Self.sample(after, #"gatehouse_request_duration_seconds_bucket{route="public",le="+Inf"}"#)
                == Self.sample(after, #"gatehouse_request_duration_seconds_count{route="public"}"#))
        #expect(Self.sample(after, "gatehouse_active_connections") >= 1, "the scrape's own connection")
    }

    @Test("readyz is 200 when every worker is up and the store answers; healthz is 200")
    func readiness() throws {
        let gw = try SessionFixture.gateway()
        let ready = try gw.sendAdmin("GET /readyz HTTP/1.1\r\nHost: admin\r\n\r\n")
        #expect(ready.status == 200, "\(ready.bodyText)")
        #expect(ready.json?["ready"] as? Bool == true)
        #expect(try gw.sendAdmin("GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n").status == 200)
        #expect(try gw.sendAdmin("POST /metrics HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n").status == 405)
    }

    @Test("POST /reload applies a valid config at once and refuses a broken one with file:line, keeping the old")
    func reloadOverAdmin() throws {
        let gw = try SessionFixture.gateway()
        #expect(try gw.get("/app/x").status == 401)
        let added = """
              - name: open-app
                match: { path_prefix: /app/open }
                upstream: app
                auth: none
            """
        try gw.gateway.rewriteConfig(SessionFixture.config(extraRoutes: added)
            .replacingOccurrences(of: "@KEYS@", with: gw.directory))
        let ok = try gw.sendAdmin("POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
        #expect(ok.status == 200, "\(ok.bodyText)")
        #expect(try gw.get("/app/open/x").status == 200, "the new route serves at once")

        try gw.gateway.rewriteConfig(SessionFixture.config(extraRoutes: added)
            .replacingOccurrences(of: "@KEYS@", with: gw.directory)
            .replacingOccurrences(of: "upstream: app\n    auth: none", with: "upstream: nowhere\n    auth: none"))
        let refused = try gw.sendAdmin("POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
        #expect(refused.status == 422)
        let description = refused.json?["error_description"] as? String ?? ""
        #expect(description.contains("gatehouse.yaml:"), "\(description)")
        #expect(description.contains("nowhere"), "\(description)")
        #expect(try gw.get("/app/open/x").status == 200, "the previous config keeps serving")
    }
}
