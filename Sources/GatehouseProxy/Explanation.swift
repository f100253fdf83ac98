package import GatehouseHTTP
package import GatehouseIO

/// What the gateway would do with one request, step by step: the answer to "why was this refused?" and
/// "what exactly does the app receive?" (`gatehouse explain`).
///
/// It runs the same route table, the same auth pipeline and the same header rewrite as the data path; only
/// the I/O is missing. The verified-token cache is not used, so every check is shown.
package struct Explanation: Sendable {
    /// The matched route's name, or nil (404).
    package let route: String?
    /// One line per check, in the order the gateway makes them.
    package let steps: [String]
    /// The status the gateway would answer itself, or nil when the request is forwarded.
    package let localStatus: Int?
    /// The exact request head the upstream would receive (when forwarded).
    package let upstreamHead: String?

    /// Explains `head` under `snapshot` for a client at `peer`, at unix time `now`.
    package static func explain(_ head: RequestHead, snapshot: ProxySnapshot, peer: SocketAddress,
                                now: Int64) -> Explanation {
        guard let index = snapshot.routes.match(head) else {
            return Explanation(route: nil, steps: ["no route matches host and path: 404"], localStatus: 404,
                               upstreamHead: nil)
        }
        let route = snapshot.routes.routes[index]
        var trace: DecisionTrace? = DecisionTrace()
        trace?.add("route \(route.name) (upstream \(snapshot.upstreams[route.upstreamIndex].name))")
        let decision = RequestPipeline.decide(head, policy: route.policy, tokens: snapshot.tokens, cache: nil,
                                              now: now, trace: &trace)
        let steps = trace?.steps ?? []
        switch decision {
        case .forward(let identity):
            var out: [UInt8] = []
            let peerInfo = PeerInfo(peer, under: snapshot)
            // The assertion is signed as the data path would sign it; the shared secret is named, never printed.
            var assertion: [UInt8]? = nil
            if let settings = route.policy.assertion, let identity {
                assertion = AssertionCache(capacity: 16).line(settings, identity, now: now)
            }
            var secret: [UInt8]? = nil
            if let line = snapshot.upstreams[route.upstreamIndex].sharedSecretLine,
                let colon = line.firstIndex(of: UInt8(ascii: ":"))
            {
                secret = Array(line[..<colon]) + Array(": <shared secret>\r\n".utf8)
            }
            head.bytes.withUnsafeBytes { raw in
                let host = UnsafeRawBufferPointer(rebasing: raw[RouteTable.hostRange(of: head) ?? 0..<0])
                HeaderRewrite.writeRequest(head, host: host, peer: peerInfo, snapshot: snapshot, policy: route.policy,
                                           identity: identity, framing: head.framing, upgrade: head.upgradesToWebSocket,
                                           assertion: assertion, sharedSecret: secret, into: &out)
            }
            return Explanation(route: route.name, steps: steps + ["forwarded"], localStatus: nil,
                               upstreamHead: String(decoding: out, as: UTF8.self))
        case .unauthenticated(let reason, _):
            let browserLogin = route.policy.redirectsBrowsersToLogin && AuthResponses.isBrowserNavigation(head)
                && snapshot.loginURL != nil
            return Explanation(route: route.name, steps: steps + ["refused: \(reason)"],
                               localStatus: browserLogin ? 302 : 401, upstreamHead: nil)
        case .badRequest(let reason):
            return Explanation(route: route.name, steps: steps + ["refused: \(reason)"], localStatus: 400,
                               upstreamHead: nil)
        case .forbidden(let reason):
            return Explanation(route: route.name, steps: steps + ["refused: \(reason)"], localStatus: 403,
                               upstreamHead: nil)
        case .unavailable(let reason):
            return Explanation(route: route.name, steps: steps + ["refused: \(reason)"], localStatus: 503,
                               upstreamHead: nil)
        case .fetchSession:
            return Explanation(route: route.name, steps: steps + ["the session store would be asked"],
                               localStatus: nil, upstreamHead: nil)
        case .verifyPassword:
            return Explanation(route: route.name, steps: steps + ["the password would be checked"],
                               localStatus: nil, upstreamHead: nil)
        }
    }
}
