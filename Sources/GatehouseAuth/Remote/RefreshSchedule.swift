import Synchronization

/// When to fetch a provider's keys again.
///
/// A successful fetch is followed by the configured interval, or by the answer's `Cache-Control: max-age` held
/// within ``bounds`` (a provider saying `max-age=5` must not make every gateway fetch every 5 s, nor one saying a
/// week keep a removed key alive for a week). `no-cache`/`no-store` mean the lower bound. A failure retries
/// sooner, doubling from ``firstRetry`` up to ``maxRetry``, while the last good set keeps serving.
package struct RefreshSchedule: Sendable, Equatable {
    /// Used when the answer has no usable `max-age`; default 1 h.
    package let interval: Duration
    /// `max-age` is clamped into this range; default 5 min ... 24 h.
    package let bounds: ClosedRange<Duration>
    package static let firstRetry: Duration = .seconds(5)
    package static let maxRetry: Duration = .seconds(300)

    package init(interval: Duration = .seconds(3600), bounds: ClosedRange<Duration> = .seconds(300) ... .seconds(86400)) {
        self.interval = interval
        self.bounds = bounds
    }

    /// The delay after a successful fetch whose answer carried `cacheControl` (nil: absent).
    package func afterSuccess(cacheControl: String?) -> Duration {
        guard let cacheControl else { return interval }
        switch Self.maxAge(cacheControl) {
        case .none: return interval
        case .noCache: return bounds.lowerBound
        case .seconds(let seconds):
            return min(max(.seconds(seconds), bounds.lowerBound), bounds.upperBound)
        }
    }

    /// The delay after the `failures`-th consecutive failure (1 = the first).
    package func afterFailure(_ failures: Int) -> Duration {
        var delay = Self.firstRetry
        for _ in 1..<max(1, min(failures, 16)) { delay = delay * 2 }
        return min(delay, min(Self.maxRetry, interval))
    }

    package enum MaxAge: Equatable {
        case none
        case noCache
        case seconds(Int64)
    }

    /// Reads `max-age` (RFC 9111 §5.2.2.1) from a Cache-Control value; `no-cache` and `no-store` win over it. A
    /// malformed or duplicated `max-age` counts as absent (§4.2.1: treat as stale, i.e. use our own interval).
    package static func maxAge(_ value: String) -> MaxAge {
        var found: Int64? = nil
        var count = 0
        for part in value.split(separator: ",") {
            let directive = part.trimmingCharacters(" \t")
            let lower = directive.lowercased()
            if lower == "no-cache" || lower == "no-store" { return .noCache }
            guard lower.hasPrefix("max-age=") else { continue }
            count += 1
            var digits = lower.dropFirst(8)
            if digits.hasPrefix("\"") && digits.hasSuffix("\"") && digits.count >= 2 {
                digits = digits.dropFirst().dropLast()
            }
            guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let seconds = Int64(digits) else { return .none }
            found = seconds
        }
        guard count == 1, let found else { return .none }
        return .seconds(found)
    }
}

/// Admits at most one unknown-`kid` fetch per interval (default 30 s), from any thread, without a lock.
///
/// The verifier calls ``admit(nowSeconds:)`` only when a token names a `kid` the set lacks; a flood of tokens with
/// random kids therefore costs the provider one fetch per interval.
package final class RefreshGate: Sendable {
    private let lastAdmitted = Atomic<Int64>(Int64.min / 2)
    package let intervalSeconds: Int64

    package init(intervalSeconds: Int64 = 30) {
        self.intervalSeconds = intervalSeconds
    }

    /// True for the first call in each interval (monotonic seconds), false for the others.
    package func admit(nowSeconds: Int64) -> Bool {
        var last = lastAdmitted.load(ordering: .relaxed)
        while nowSeconds - last >= intervalSeconds {
            let (exchanged, original) = lastAdmitted.compareExchange(
                expected: last, desired: nowSeconds, ordering: .relaxed)
            if exchanged { return true }
            last = original
        }
        return false
    }
}

extension Substring {
    fileprivate func trimmingCharacters(_ blanks: String) -> Substring {
        var text = self
        while let first = text.first, blanks.contains(first) { text.removeFirst() }
        while let last = text.last, blanks.contains(last) { text.removeLast() }
        return text
    }
}
