import Testing

@testable import GatehouseConfig

@Suite("Durations, sizes and integers")
struct UnitsTests {
    @Test(
        "durations in every unit",
        arguments: [
            ("500ms", Duration.milliseconds(500)), ("10s", .seconds(10)), ("2m", .seconds(120)), ("1h", .seconds(3600)),
            ("1 s", .seconds(1)), ("0010s", .seconds(10)), ("86400000ms", .seconds(86400)),
        ])
    func durations(text: String, expected: Duration) {
        guard case .parsed(let value) = Units.duration(text) else {
            Issue.record("\(text) was refused")
            return
        }
        #expect(value == expected)
    }

    @Test(
        "durations that are refused, and why",
        arguments: [
            ("10", "add a unit: \"10s\" for seconds or \"10ms\" for milliseconds"),
            ("0s", "must be greater than zero"),
            ("0ms", "must be greater than zero"),
            ("-5s", "must not be negative"),
            ("1.5s", "use a whole number with a smaller unit (e.g. 1500ms, not 1.5s)"),
            ("10sec", "unknown duration unit \"sec\"; use ms, s, m or h"),
            ("10S", "unknown duration unit \"S\"; use ms, s, m or h"),
            ("1d", "unknown duration unit \"d\"; use ms, s, m or h"),
            ("s", "expected a duration such as 500ms, 10s, 2m or 1h, got \"s\""),
            ("", "expected a duration such as 500ms, 10s, 2m or 1h, got \"\""),
            ("99999999999999999999s", "number is too large"),
            ("9223372036854775807h", "duration is too large"),
            ("+5s", "expected a duration such as 500ms, 10s, 2m or 1h, got \"+5s\""),
        ])
    func refusedDurations(text: String, reason: String) {
        guard case .invalid(let message) = Units.duration(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(message == reason)
    }

    @Test("zero is accepted only where a key allows it")
    func zeroDuration() {
        guard case .parsed(let value) = Units.duration("0s", allowZero: true) else {
            Issue.record("0s refused with allowZero")
            return
        }
        #expect(value == .zero)
        guard case .parsed(let bare) = Units.duration("0", allowZero: true) else {
            Issue.record("a bare 0 refused with allowZero")
            return
        }
        #expect(bare == .zero)
        guard case .invalid = Units.duration("0") else {
            Issue.record("a bare 0 accepted where zero is not allowed")
            return
        }
        guard case .invalid = Units.duration("5", allowZero: true) else {
            Issue.record("a bare 5 accepted")
            return
        }
    }

    @Test(
        "byte sizes in every unit",
        arguments: [
            ("4096", Int64(4096)), ("4096B", 4096), ("8KiB", 8192), ("64MiB", 64 << 20), ("2GiB", 2 << 30),
            ("8KB", 8000), ("8kB", 8000), ("5MB", 5_000_000), ("3GB", 3_000_000_000), ("64 MiB", 64 << 20),
            ("8589934591GiB", 8_589_934_591 << 30),
        ])
    func sizes(text: String, expected: Int64) {
        guard case .parsed(let value) = Units.byteSize(text) else {
            Issue.record("\(text) was refused")
            return
        }
        #expect(value == expected)
    }

    @Test(
        "byte sizes that are refused, and why",
        arguments: [
            ("0", "must be greater than zero"),
            ("0KiB", "must be greater than zero"),
            ("-1MiB", "must not be negative"),
            ("1.5MiB", "use a whole number with a smaller unit (e.g. 1500ms, not 1.5s)"),
            ("8K", "unknown size unit \"K\"; use B, KiB, MiB, GiB (1024) or KB, MB, GB (1000)"),
            ("8kib", "unknown size unit \"kib\"; use B, KiB, MiB, GiB (1024) or KB, MB, GB (1000)"),
            ("1TiB", "unknown size unit \"TiB\"; use B, KiB, MiB, GiB (1024) or KB, MB, GB (1000)"),
            ("MiB", "expected a size such as 4096, 8KiB, 64MiB or 1GB, got \"MiB\""),
            ("8589934592GiB", "size is too large"),
            ("99999999999999999999", "number is too large"),
        ])
    func refusedSizes(text: String, reason: String) {
        guard case .invalid(let message) = Units.byteSize(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(message == reason)
    }

    @Test("integers: decimal only, in range")
    func integers() {
        #expect(parsedInteger("7", 1...10) == 7)
        #expect(parsedInteger("010", 1...10) == 10)  // not octal
        #expect(parsedInteger("0", 0...Int.max) == 0)
        for text in ["0x10", "1_000", "1e3", "1:30", "", "11", "-1", "+3", "3.0"] {
            #expect(parsedInteger(text, 1...10) == nil, "\(text) should be refused")
        }
    }

    @Test("durations and sizes are checked through the loader too")
    func throughTheLoader() {
        let errors = ConfigFixtures.errors(
            ConfigFixtures.withServer(
                """
                drain_timeout: 1.5s
                limits:
                  max_header_count: 0
                  max_request_head: 12 parsecs
                  idle_timeout: 0s
                """))
        #expect(
            errors.map(\.key) == [
                "server.drain_timeout", "server.limits.max_header_count", "server.limits.max_request_head",
                "server.limits.idle_timeout",
            ])
        #expect(errors.allSatisfy { $0.code == .invalidValue })
        #expect(errors.map { $0.location?.line } == [2, 4, 5, 6])
        #expect(errors[1].message == "expected an integer of at least 1, got 0")
    }

    private func parsedInteger(_ text: String, _ range: ClosedRange<Int>) -> Int? {
        guard case .parsed(let value) = Units.integer(text, in: range) else { return nil }
        return value
    }
}
