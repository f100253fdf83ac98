import GatehouseAuth
@testable import GatehouseProxy
import Testing

/// Issue 12 part 5 without sockets: the machine's answer to "the tunnel's session ended", and which identities
/// bind a tunnel to a session.
@Suite("Tunnels and the end of their session (no sockets)")
struct TunnelRevocationMachineTests {
    @Test func aTunnelWhoseSessionEndedClosesBothSidesAndLogsWhy() {
        var h = ExchangeMachineTests.tunnel()
        #expect(h.on { $0.sessionEnded() } == ["log(101, tunnel-session-revoked)",
                                               "releaseUpstream(reuse: false, serverFailed: false)",
                                               "cancelTimer", "close"])
        // Already closed: nothing more.
        #expect(h.on { $0.sessionEnded() } == [])
    }

    @Test func outsideATunnelTheEndOfASessionChangesNothing() {
        var h = MachineHarness()
        #expect(h.on { $0.sessionEnded() } == [])
        h.forwardGET()
        #expect(h.on { $0.sessionEnded() } == [], "a plain request is checked on its own, its answer goes on")
    }

    @Test func sessionsAndTheGatewaysOwnTokensBindATunnelOutsideTokensDoNot() {
        func identity(_ source: Identity.Source, _ claims: [(String, ClaimValue)]) -> Identity {
            Identity(source: source, claims: claims, groupsClaim: "groups", expiresAt: nil)
        }
        let own = "https://gatehouse.test"
        #expect(TunnelRegistry.session(of: identity(.session, [("sub", .string("a")), ("sid", .string("h1"))]),
                                       ownIssuer: nil) == "h1")
        #expect(TunnelRegistry.session(of: identity(.bearer, [("iss", .string(own)), ("sid", .string("h2"))]),
                                       ownIssuer: own) == "h2")
        // An outside issuer's sid names the provider's session, not one of ours.
        #expect(TunnelRegistry.session(of: identity(.bearer, [("iss", .string("https://idp")), ("sid", .string("x"))]),
                                       ownIssuer: own) == nil)
        #expect(TunnelRegistry.session(of: identity(.cookie("at"), [("iss", .string("https://idp")), ("sid", .string("x"))]),
                                       ownIssuer: nil) == nil)
        #expect(TunnelRegistry.session(of: identity(.session, [("sub", .string("a"))]), ownIssuer: nil) == nil)
        #expect(TunnelRegistry.session(of: nil, ownIssuer: own) == nil)
    }
}
