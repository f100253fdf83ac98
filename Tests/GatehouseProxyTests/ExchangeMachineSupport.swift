import GatehouseHTTP
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// Drives an `ExchangeMachine` without sockets: events in, action names out, and a manual clock that fires the
/// client and upstream timers the actions armed when the test moves time past their deadlines.
struct MachineHarness {
    var machine: ExchangeMachine
    private(set) var now: Duration = .zero
    private(set) var clientTimer: (purpose: ExchangeMachine.Timer, deadline: Duration)?
    private(set) var upstreamTimer: (purpose: ExchangeMachine.UpstreamTimer, deadline: Duration)?
    /// The actions of every event so far, in order.
    private(set) var log: [String] = []

    /// The durations the executor would take from the configuration.
    static func duration(_ timer: ExchangeMachine.Timer) -> Duration {
        switch timer {
        case .idle: return .seconds(60)
        case .header: return .seconds(10)
        case .body: return .seconds(20)
        case .flush: return .seconds(5)
        case .linger: return .seconds(2)
        case .tunnelIdle: return .seconds(300)
        }
    }

    static func duration(_ timer: ExchangeMachine.UpstreamTimer) -> Duration {
        timer == .connect ? .seconds(3) : .seconds(30)
    }

    init(tls: Bool = false) {
        machine = ExchangeMachine(tls: tls)
        _ = record(machine.initialActions)
    }

    /// Sends one event; returns its actions' names.
    @discardableResult
    mutating func on(_ event: (inout ExchangeMachine) -> ExchangeMachine.Actions) -> [String] {
        let actions = event(&machine)
        return record(actions)
    }

    /// Moves the clock; fires the earliest timer that is due (if any) and returns its actions' names.
    mutating func advance(_ duration: Duration) -> [String] {
        now += duration
        let client = clientTimer.map { $0.deadline } ?? .seconds(Int64.max / 2)
        let upstream = upstreamTimer.map { $0.deadline } ?? .seconds(Int64.max / 2)
        if upstream <= now, upstream <= client {
            upstreamTimer = nil
            return record(machine.upstreamTimerFired())
        }
        if client <= now {
            clientTimer = nil
            return record(machine.timerFired())
        }
        return []
    }

    private mutating func record(_ actions: ExchangeMachine.Actions) -> [String] {
        for action in actions {
            switch action {
            case .armTimer(let purpose): clientTimer = (purpose, now + Self.duration(purpose))
            case .cancelTimer: clientTimer = nil
            case .armUpstreamTimer(let purpose): upstreamTimer = (purpose, now + Self.duration(purpose))
            case .disarmUpstreamTimer, .releaseUpstream: upstreamTimer = nil
            case .close: clientTimer = nil
            default: break
            }
        }
        let names = actions.map { name($0) }
        log += names
        return names
    }

    /// The action's name with what it carries (taken from the machine's slots, as the executor takes them).
    private mutating func name(_ action: ExchangeMachine.Action) -> String {
        switch action {
        case .armTimer(let purpose): return "armTimer(\(purpose))"
        case .decide: return "decide"
        case .fetchSession(let ticket): return "fetchSession(\(ticket))"
        case .connectUpstream(let excluded): return "connectUpstream(excluding: \(excluded.map(String.init) ?? "nil"))"
        case .armUpstreamTimer(let purpose): return "armUpstreamTimer(\(purpose))"
        case .moveRequestBody(let count, let chunked): return "moveRequestBody(\(count), chunked: \(chunked))"
        case .writeResponseHead(let framing, let close): return "writeResponseHead(\(framing), close: \(close))"
        case .moveResponseBody(let count, let chunked): return "moveResponseBody(\(count), chunked: \(chunked))"
        case .releaseUpstream(let reuse, let failed): return "releaseUpstream(reuse: \(reuse), serverFailed: \(failed))"
        case .answer(let close, let headOnly):
            let what: String
            switch machine.takeAnswer() {
            case .error(let status): what = "error(\(status))"
            case .refusal(let refusal, _): what = "refusal(\(refusal.status))"
            case .local(let response): what = "local(\(response.status))"
            }
            return "answer(\(what), close: \(close)\(headOnly ? ", headOnly" : ""))"
        case .log(let status):
            let note = machine.takeLogNote()
            #expect(note.request != nil)
            return "log(\(status)\(note.error.map { ", \($0)" } ?? ""))"
        case .logRefusal(let status): return "logRefusal(\(status), \(machine.takeLogNote().error ?? "-"))"
        case .count(let counter): return "count(\(counter))"
        default: return "\(action)"
        }
    }
}

/// A request head parsed from `lines` (CRLF-joined, blank line added).
func exchangeRequest(_ lines: String...) -> ExchangeRequest {
    var parser = RequestParser(limits: HTTPLimits())
    let bytes = Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    let event = try! bytes.withUnsafeBytes { raw throws(HTTPParseError) in try parser.next(raw) }
    guard case .requestHead(let head, let consumed) = event else { fatalError("not a request head: \(lines)") }
    return ExchangeRequest(head: head, headBytes: consumed, startedAt: 0)
}

/// A response head parsed from `lines`, answering a `method` request.
func responseHead(_ lines: String..., method: KnownMethod = .get) -> ResponseHead {
    var parser = ResponseParser(limits: HTTPLimits())
    let bytes = Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    let event = try! bytes.withUnsafeBytes { raw throws(HTTPParseError) in try parser.next(raw, requestMethod: method) }
    guard case .responseHead(let head, _) = event else { fatalError("not a response head: \(lines)") }
    return head
}

let get = "GET / HTTP/1.1"
let host = "Host: example.test"

extension MachineHarness {
    /// The actions of the next-request step (keep-alive, nothing pipelined yet).
    static let nextRequest = ["prepareForNextRequest", "armTimer(idle)", "readNextHead"]
    /// The actions of an orderly close after an answer (no upstream in use).
    static let closing = ["discardClientInput", "armTimer(flush)", "shutdownWhenFlushed"]

    /// A head parsed and forwarded on route 0 (`servers` upstream servers); returns the request.
    @discardableResult
    mutating func forward(_ request: ExchangeRequest, servers: Int = 1) -> ExchangeRequest {
        on { $0.headParsed(request) }
        on { $0.decided(.forward(route: 0, identity: nil, servers: servers)) }
        return request
    }

    /// A bodiless GET forwarded on a connected (`reused`: pooled) upstream, its empty body parsed.
    @discardableResult
    mutating func forwardGET(reused: Bool = false, _ lines: String...) -> ExchangeRequest {
        let request = forward(exchangeRequest(([get, host] + lines).joined(separator: "\r\n")))
        on { $0.upstreamAcquired(server: 0, connected: true, reused: reused) }
        on { $0.requestEnded(trailers: HeaderFields()) }
        return request
    }
}
