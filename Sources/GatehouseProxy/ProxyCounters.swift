/// The data path's counters, one instance per worker, incremented without atomics (Envoy's `stats.h`).
/// The admin side sums them across workers on demand (`MetricsSnapshot`).
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
    /// Tunnels closed because the session they were opened with ended (issue 12 part 5).
    package var tunnelsRevoked = 0
    package var authAccepted = 0
    package var authNoCredential = 0
    package var authInvalid = 0
    package var authForbidden = 0
    package var authBadRequest = 0
    package var sessionLookups = 0
    package var sessionFetches = 0
    package var sessionStoreErrors = 0
    package var signIns = 0
    package var signInFailures = 0
    package var signInThrottled = 0
    /// Remote store: lookups answered "no such session" from the worker's negative cache.
    package var sessionNegativeHits = 0
    /// Remote store: lookups answered from the cache while a connection was being re-made.
    package var sessionOutageHits = 0
    /// Unknown-cookie lookups refused (429) by the per-address limit.
    package var sessionUnknownCookiesRefused = 0
    /// Remote store: times the Redis master moved (a Sentinel failover followed, or a demoted master left).
    package var sessionStoreMasterChanges = 0
    /// Remote store: writes that matter answered 503 because too few replicas acknowledged them (`WAIT`).
    package var sessionStoreReplicaAckFailures = 0
    /// Sign-ins checked against this gateway's own count only: the shared (Redis) throttle could not answer.
    package var signInThrottleFallbacks = 0
    package var signOuts = 0
    package var refreshReuse = 0
    /// Back-channel logout tokens accepted (OpenID Connect Back-Channel Logout), refused, and sessions they ended.
    package var providerLogouts = 0
    package var providerLogoutRefusals = 0
    package var providerLogoutSessionsEnded = 0
    package var acceptFailures = 0
    package var acceptLimitPauses = 0
    package var accessLogLinesDropped = 0
    /// `Authorization: Basic`: passwords hashed, pairs answered from the worker's cache, attempts throttled (429),
    /// wrong pairs.
    package var basicPasswordChecks = 0
    package var basicCacheHits = 0
    package var basicThrottled = 0
    package var basicFailures = 0

    package init() {}

    /// Every counter with its Prometheus name and help text, in a stable order.
    package var all: [(name: String, help: String, value: Int)] {
        [
            ("gatehouse_connections_accepted_total", "Client connections accepted.", connectionsAccepted),
            ("gatehouse_requests_total", "Requests answered (all routes, local answers included).", requests),
            ("gatehouse_parse_errors_total", "Requests refused by the HTTP parser.", parseErrors),
            ("gatehouse_header_timeouts_total", "Clients that did not send a whole head in time (408).", headerTimeouts),
            ("gatehouse_upstream_errors_total", "Upstream connections that failed (502).", upstreamErrors),
            ("gatehouse_upstream_protocol_errors_total", "Upstream responses the parser refused.", upstreamProtocolErrors),
            ("gatehouse_upstream_connect_timeouts_total", "Upstream connects that timed out.", upstreamConnectTimeouts),
            ("gatehouse_upstream_response_timeouts_total", "Upstream responses that timed out (504).", upstreamResponseTimeouts),
            ("gatehouse_tunnels_total", "Upgraded connections tunnelled.", tunnels),
            ("gatehouse_tunnels_revoked_total",
             "Tunnels closed because their session ended (logout, device sign-out, disable, eviction, admin).",
             tunnelsRevoked),
            ("gatehouse_auth_accepted_total", "Requests forwarded with a verified identity.", authAccepted),
            ("gatehouse_auth_no_credential_total", "Requests refused for lack of a credential.", authNoCredential),
            ("gatehouse_auth_invalid_total", "Requests refused for an invalid credential.", authInvalid),
            ("gatehouse_auth_forbidden_total", "Requests refused by a route's requirement (403).", authForbidden),
            ("gatehouse_auth_bad_request_total", "Requests with malformed credentials (400).", authBadRequest),
            ("gatehouse_session_lookups_total", "Session cookies looked up in the session store (hot path).", sessionLookups),
            ("gatehouse_session_fetches_total", "Session lookups that had to ask a remote store.", sessionFetches),
            ("gatehouse_session_store_errors_total", "Requests answered 503 because the session store could not answer.", sessionStoreErrors),
            ("gatehouse_sign_ins_total", "Successful sign-ins.", signIns),
            ("gatehouse_sign_in_failures_total", "Sign-ins with a wrong user name or password.", signInFailures),
            ("gatehouse_sign_ins_throttled_total", "Sign-ins refused by the rate limit (429).", signInThrottled),
            ("gatehouse_session_negative_cache_hits_total",
             "Session cookies known to be unknown, answered without asking the remote store.", sessionNegativeHits),
            ("gatehouse_session_outage_cache_hits_total",
             "Session lookups answered from the cache during a store outage's grace.", sessionOutageHits),
            ("gatehouse_session_unknown_cookies_refused_total",
             "Requests refused (429) for looking up too many unknown session cookies.", sessionUnknownCookiesRefused),
            ("gatehouse_session_store_master_changes_total",
             "Times a worker followed the Redis master to a new address (failover).", sessionStoreMasterChanges),
            ("gatehouse_session_store_replica_ack_failures_total",
             "Writes answered 503 because too few Redis replicas acknowledged them in time.", sessionStoreReplicaAckFailures),
            ("gatehouse_sign_in_throttle_fallbacks_total",
             "Sign-ins checked against this gateway's own count: the shared throttle could not answer.",
             signInThrottleFallbacks),
            ("gatehouse_sign_outs_total", "Sessions ended by logout or device revocation.", signOuts),
            ("gatehouse_refresh_token_reuse_total", "Spent refresh tokens presented again (session revoked).", refreshReuse),
            ("gatehouse_oidc_backchannel_logouts_total", "Back-channel logout tokens accepted from OpenID providers.",
             providerLogouts),
            ("gatehouse_oidc_backchannel_logout_refusals_total",
             "Back-channel logout requests refused (400: invalid, replayed or unreadable token).", providerLogoutRefusals),
            ("gatehouse_oidc_backchannel_logout_sessions_ended_total",
             "Sessions ended by back-channel logout tokens.", providerLogoutSessionsEnded),
            ("gatehouse_accept_failures_total", "Accepts the kernel refused (out of file descriptors: EMFILE/ENFILE); each pauses accepting for 100ms or until a connection closes.", acceptFailures),
            ("gatehouse_accept_limit_pauses_total", "Times a worker stopped accepting at server.limits.max_connections.", acceptLimitPauses),
            ("gatehouse_access_log_dropped_lines_total", "Access-log lines dropped because the log output was blocked or too slow.", accessLogLinesDropped),
            ("gatehouse_basic_password_checks_total", "Authorization: Basic passwords hashed (cache misses).", basicPasswordChecks),
            ("gatehouse_basic_cache_hits_total", "Authorization: Basic pairs answered from the verified-password cache.", basicCacheHits),
            ("gatehouse_basic_throttled_total", "Authorization: Basic attempts refused by the sign-in rate limit (429).", basicThrottled),
            ("gatehouse_basic_failures_total", "Authorization: Basic attempts with a wrong user name or password.", basicFailures),
        ]
    }

    mutating func add(_ other: ProxyCounters) {
        connectionsAccepted += other.connectionsAccepted
        requests += other.requests
        parseErrors += other.parseErrors
        headerTimeouts += other.headerTimeouts
        upstreamErrors += other.upstreamErrors
        upstreamProtocolErrors += other.upstreamProtocolErrors
        upstreamConnectTimeouts += other.upstreamConnectTimeouts
        upstreamResponseTimeouts += other.upstreamResponseTimeouts
        tunnels += other.tunnels
        tunnelsRevoked += other.tunnelsRevoked
        authAccepted += other.authAccepted
        authNoCredential += other.authNoCredential
        authInvalid += other.authInvalid
        authForbidden += other.authForbidden
        authBadRequest += other.authBadRequest
        sessionLookups += other.sessionLookups
        sessionFetches += other.sessionFetches
        sessionStoreErrors += other.sessionStoreErrors
        signIns += other.signIns
        signInFailures += other.signInFailures
        signInThrottled += other.signInThrottled
        signInThrottleFallbacks += other.signInThrottleFallbacks
        sessionNegativeHits += other.sessionNegativeHits
        sessionOutageHits += other.sessionOutageHits
        sessionUnknownCookiesRefused += other.sessionUnknownCookiesRefused
        sessionStoreMasterChanges += other.sessionStoreMasterChanges
        sessionStoreReplicaAckFailures += other.sessionStoreReplicaAckFailures
        signOuts += other.signOuts
        refreshReuse += other.refreshReuse
        providerLogouts += other.providerLogouts
        providerLogoutRefusals += other.providerLogoutRefusals
        providerLogoutSessionsEnded += other.providerLogoutSessionsEnded
        acceptFailures += other.acceptFailures
        acceptLimitPauses += other.acceptLimitPauses
        accessLogLinesDropped += other.accessLogLinesDropped
        basicPasswordChecks += other.basicPasswordChecks
        basicCacheHits += other.basicCacheHits
        basicThrottled += other.basicThrottled
        basicFailures += other.basicFailures
    }
}
