/// The result of parsing one scalar: the value, or an operator-facing reason it was refused.
///
/// An enum outcome rather than a thrown error keeps the module at one error type
/// (``ConfigError``): the caller knows the file, line and key and wraps the reason.
enum ParseOutcome<Value> {
    /// The text was valid.
    case parsed(Value)
    /// The text was refused; the string says why, and how to fix it when we can tell.
    case invalid(String)
}

/// Parsers for the unit-bearing scalars of the configuration: durations, byte sizes and
/// plain integers.
///
/// Syntax (documented in docs/configuration.md):
/// - duration: `<digits><unit>` with unit `ms`, `s`, `m` or `h`; a bare number is refused,
///   since `timeout: 10` is ambiguous between seconds and milliseconds.
/// - byte size: `<digits>[unit]` with unit `B`, `KiB`, `MiB`, `GiB` (powers of 1024) or
///   `KB`/`kB`, `MB`, `GB` (powers of 1000); a bare number is bytes.
/// - integer: decimal digits only (no sign, no `0x`, no `_`; YAML 1.1's sexagesimal and octal
///   forms are not honoured, because we read the scalar's text ourselves).
///
/// Blanks between the number and the unit are accepted (`64 MiB`). Values must be whole
/// numbers and must fit in 64 bits once converted to milliseconds or bytes.
enum Units {
    private static let durationUnits: [(name: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000),
    ]

    private static let sizeUnits: [(name: String, bytes: Int64)] = [
        ("B", 1), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
        ("KB", 1_000), ("kB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000),
    ]

    /// Parses a duration such as `500ms`, `10s`, `2m` or `1h`.
    ///
    /// - Parameters:
    ///   - text: The scalar's text.
    ///   - allowZero: Whether zero is meaningful for this key ("off": `idle_ttl`, `cache_ttl`); a bare `0` is
    ///     then accepted too, since zero needs no unit.
    /// - Returns: The duration, or why it was refused.
    static func duration(_ text: String, allowZero: Bool = false) -> ParseOutcome<Duration> {
        let example = "a duration such as 500ms, 10s, 2m or 1h"
        let number: Int64
        let unit: String
        switch splitNumber(text, expected: example) {
        case .invalid(let reason): return .invalid(reason)
        case .parsed(let parts): (number, unit) = parts
        }
        if unit.isEmpty {
            if number == 0 && allowZero { return .parsed(.zero) }
            return .invalid("add a unit: \"\(number)s\" for seconds or \"\(number)ms\" for milliseconds")
        }
        guard let factor = durationUnits.first(where: { $0.name == unit })?.milliseconds else {
            return .invalid("unknown duration unit \"\(unit)\"; use ms, s, m or h")
        }
        let (milliseconds, overflow) = number.multipliedReportingOverflow(by: factor)
        if overflow {
            return .invalid("duration is too large")
        }
        if milliseconds == 0 && !allowZero {
            return .invalid("must be greater than zero")
        }
        return .parsed(.milliseconds(milliseconds))
    }

    /// Parses a byte size such as `8KiB`, `64MiB`, `1GB` or `4096`.
    ///
    /// - Parameter text: The scalar's text.
    /// - Returns: The number of bytes (always > 0), or why it was refused.
    static func byteSize(_ text: String) -> ParseOutcome<Int64> {
        let example = "a size such as 4096, 8KiB, 64MiB or 1GB"
        let number: Int64
        let unit: String
        switch splitNumber(text, expected: example) {
        case .invalid(let reason): return .invalid(reason)
        case .parsed(let parts): (number, unit) = parts
        }
        let factor: Int64
        if unit.isEmpty {
            factor = 1
        } else if let known = sizeUnits.first(where: { $0.name == unit }) {
            factor = known.bytes
        } else {
            return .invalid("unknown size unit \"\(unit)\"; use B, KiB, MiB, GiB (1024) or KB, MB, GB (1000)")
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: factor)
        if overflow {
            return .invalid("size is too large")
        }
        if bytes == 0 {
            return .invalid("must be greater than zero")
        }
        return .parsed(bytes)
    }

    /// Parses a non-negative decimal integer and checks it against a range.
    ///
    /// - Parameters:
    ///   - text: The scalar's text.
    ///   - range: The accepted values.
    /// - Returns: The integer, or why it was refused.
    static func integer(_ text: String, in range: ClosedRange<Int>) -> ParseOutcome<Int> {
        let rangeText =
            range.upperBound == Int.max
            ? "an integer of at least \(range.lowerBound)"
            : "an integer from \(range.lowerBound) to \(range.upperBound)"
        let trimmed = trimBlanks(text)
        let isNegative =
            trimmed.first == "-" && trimmed.count > 1
            && trimmed.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
        if isNegative {
            return .invalid("expected \(rangeText), got \(trimmed)")
        }
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return .invalid("expected \(rangeText), got \"\(trimmed)\"")
        }
        guard let value = Int(trimmed), range.contains(value) else {
            return .invalid("expected \(rangeText), got \(trimmed)")
        }
        return .parsed(value)
    }

    /// Splits `<digits>[blanks]<unit>` into its number and unit, refusing signs, fractions and
    /// numbers that do not fit in 64 bits.
    private static func splitNumber(_ text: String, expected: String) -> ParseOutcome<(Int64, String)> {
        let trimmed = trimBlanks(text)
        if trimmed.hasPrefix("-") {
            return .invalid("must not be negative")
        }
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else {
            return .invalid("expected \(expected), got \"\(trimmed)\"")
        }
        let rest = trimmed[digits.endIndex...]
        if rest.first == "." || rest.first == "," {
            return .invalid("use a whole number with a smaller unit (e.g. 1500ms, not 1.5s)")
        }
        guard let number = Int64(digits) else {
            return .invalid("number is too large")
        }
        return .parsed((number, trimBlanks(rest)))
    }

    /// Removes leading and trailing spaces and tabs (quoted YAML scalars keep them).
    private static func trimBlanks(_ text: some StringProtocol) -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isBlank($0) }),
            let last = text.lastIndex(where: { !isBlank($0) })
        else { return "" }
        return String(text[first...last])
    }
}
