/// The data path's counters, one instance per worker, incremented without atomics (Envoy's `stats.h`).
/// The admin side sums them across workers on demand.
package struct ProxyCounters: Sendable {
    package var connectionsAccepted = 0
    package var requests = 0
    package var parseErrors = 0
    package var headerTimeouts = 0
    package var upstreamErrors = 0
    package var upstreamProtocolErrors = 0
    package var upstreamConnectTimeouts = 0
    package var upstreamResponseTimeouts = 0
    package var tunnels = 0
    package var authNoCredential = 0
    package var authInvalid = 0
    package var authForbidden = 0
    package var authBadRequest = 0
    package var sessionStoreErrors = 0
    package var signIns = 0
    package var signInFailures = 0
    package var signInThrottled = 0
    package var signOuts = 0
    package var refreshReuse = 0

    package init() {}
}
