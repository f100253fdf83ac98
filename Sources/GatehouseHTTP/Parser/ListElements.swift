/// The elements of a comma-separated list value (RFC 9110 section 5.6.1), OWS trimmed; empty
/// elements are returned as empty ranges so each caller decides whether to skip or refuse them.
struct ListElements: IteratorProtocol {
    private let bytes: [UInt8]
    private var position: Int
    private let end: Int
    private var done = false

    init(_ bytes: [UInt8], _ range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    mutating func next() -> Range<Int>? {
        guard !done else { return nil }
        var elementEnd = position
        while elementEnd < end && bytes[elementEnd] != ASCII.comma { elementEnd += 1 }
        var lower = position
        var upper = elementEnd
        while lower < upper && TokenTables.isIn(bytes[lower], .whitespace) { lower += 1 }
        while upper > lower && TokenTables.isIn(bytes[upper - 1], .whitespace) { upper -= 1 }
        if elementEnd == end { done = true } else { position = elementEnd + 1 }
        return lower..<upper
    }
}

// MARK: - Byte comparisons shared by the parsers

/// True when `bytes[range]` equals `lowercase` ignoring ASCII case.
func equalsIgnoringCase(_ bytes: [UInt8], _ range: Range<Int>, _ lowercase: StaticString,
                        underscoreAsDash: Bool = false) -> Bool {
    guard range.count == lowercase.utf8CodeUnitCount else { return false }
    return lowercase.withUTF8Buffer { want in
        var j = 0
        for i in range {
            var b = asciiLower(bytes[i])
            if underscoreAsDash, b == UInt8(ascii: "_") { b = UInt8(ascii: "-") }
            if b != want[j] { return false }
            j += 1
        }
        return true
    }
}

/// True when every byte of `bytes[range]` is in `byteClass` and the range is not empty.
func allIn(_ bytes: [UInt8], _ range: Range<Int>, _ byteClass: ByteClass) -> Bool {
    guard !range.isEmpty else { return false }
    for i in range where !TokenTables.isIn(bytes[i], byteClass) { return false }
    return true
}
