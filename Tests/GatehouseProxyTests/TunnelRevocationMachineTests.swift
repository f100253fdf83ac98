import GatehouseAuth
@testable import GatehouseProxy
import Testing

/// Issue 12 part 5 without sockets: the machine's answer to "the tunnel's session ended", and which identities
/// bind a tunnel to a session.
@Suite("Tunnels and the end of their session (no sockets)")
struct TunnelRevocationMachineTests {
    @Test func midFrameATunnelWhoseSessionEndedClosesBothSidesAtOnceAndLogsWhy() {
        var h = ExchangeMachineTests.tunnel()
        #expect(h.on { $0.sessionEnded(closeFrameWritten: false) } == [
            "log(101, tunnel-session-revoked)", "releaseUpstream(reuse: false, serverFailed: false)", "cancelTimer",
            "close"])
        // Already closed: nothing more.
        #expect(h.on { $0.sessionEnded(closeFrameWritten: false) } == [])
    }

    @Test func afterACloseFrameTheUpstreamGoesAndTheClientClosesOnceFlushed() {
        var h = ExchangeMachineTests.tunnel()
        #expect(h.on { $0.sessionEnded(closeFrameWritten: true) }
                == ["log(101, tunnel-session-revoked)", "releaseUpstream(reuse: false, serverFailed: false)"]
                    + MachineHarness.closing)
        #expect(h.on { $0.sessionEnded(closeFrameWritten: true) } == [])
    }

    @Test func outsideATunnelTheEndOfASessionChangesNothing() {
        var h = MachineHarness()
        #expect(h.on { $0.sessionEnded(closeFrameWritten: false) } == [])
        h.forwardGET()
        #expect(h.on { $0.sessionEnded(closeFrameWritten: true) } == [],
                "a plain request is checked on its own, its answer goes on")
    }

    @Test func frameSizesFromHeaders() {
        func size(_ bytes: [UInt8]) -> UInt64? { bytes.withUnsafeBytes { WebSocketFrames.frameSize($0) } }
        #expect(size([]) == nil)
        #expect(size([0x81]) == nil)
        #expect(size([0x81, 0x05]) == 7)  // "hello", unmasked
        #expect(size([0x81, 0x85]) == 11)  // masked: 4 key bytes more
        #expect(size([0x82, 126, 0x01]) == nil)
        #expect(size([0x82, 126, 0x01, 0x00]) == 4 + 256)
        #expect(size([0x82, 127, 0, 0, 0, 0, 0, 1, 0]) == nil)
        #expect(size([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]) == 10 + 65_536)
        #expect(size([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]) == UInt64.max, "not a frame: never a boundary")
        #expect(WebSocketFrames.sessionEndedClose.prefix(4) == [0x88, 15, 0x03, 0xF0])
        #expect(WebSocketFrames.sessionEndedClose.count == 2 + 15)
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
