/// Finds the end of a head (or of a trailer section) in input that arrives in pieces, and keeps the
/// bytes of an unfinished one.
///
/// It sees every byte exactly once and enforces, as soon as they are crossed, the rules that need no
/// grammar: CRLF only (a CR not followed by LF, or an LF not preceded by CR, is refused), the
/// start-line limit, the total size limit and the field count. So memory stays bounded by
/// `Limits.maxBytes` whatever the peer sends, and the full parse that follows may assume that every
/// line ends in CRLF and contains neither CR nor LF.
///
/// ```
/// [empty lines skipped] start-line CRLF field-line CRLF ... field-line CRLF CRLF
///                       ^ head bytes begin here                              ^ complete
/// ```
struct HeadScanner {
    /// The bounds of one kind of section and the refusal for crossing each.
    struct Limits {
        /// Whether the section begins with a start line (heads) or directly with field lines (trailers).
        var hasStartLine: Bool
        /// Longest start line, CRLF excluded.
        var maxStartLine: Int
        /// Most bytes in the section, counted from the start line to the final CRLF included.
        var maxBytes: Int
        /// Most field lines.
        var maxFields: Int
        /// Empty lines tolerated before the start line (RFC 9112 section 2.2).
        var maxLeadingEmptyLines: Int
        var startLineTooLong: HTTPParseError
        var tooLarge: HTTPParseError
        var tooManyFields: HTTPParseError
    }

    /// What one scan found.
    enum Outcome {
        /// The section is not complete; every input byte was consumed (and kept if it belongs to it).
        case needMore(consumed: Int)
        /// The section is complete: its bytes (start line through final CRLF), and how much input it took.
        case complete(bytes: [UInt8], fieldCount: Int, consumed: Int)
    }

    /// Where the scanner is inside the current line.
    enum State {
        /// Inside a line (possibly at its first byte).
        case inLine
        /// A CR was just seen; only LF may follow.
        case afterCR
    }

    let limits: Limits
    private var state = State.inLine
    /// The bytes of the section consumed in earlier calls; capacity is reused across messages.
    private var buffer: [UInt8] = []
    private var lineIndex = 0
    private var lineLength = 0
    private var totalBytes = 0
    private var fieldCount = 0
    private var emptyLinesSkipped = 0
    /// Whether any byte (even a skipped empty line) has been consumed since the last section ended.
    private(set) var hasConsumedBytes = false
    /// The arrays of the last section delivered (its bytes, and the field index the parser built over them),
    /// kept to be reused by the next one: once the message that got them is done with them, this is the only
    /// reference left and the next head is written into the same storage, without an allocation. While the
    /// message still holds them (pipelining, a head kept longer), the next section gets new ones as before.
    private var recycledBytes: [UInt8] = []
    private var recycledFields: [HeaderFields.Field] = []
    /// Larger arrays are not kept: one huge head does not pin its memory for the connection's life.
    private static let maxRecycledBytes = 8192
    private static let maxRecycledFields = 64

    init(limits: Limits) {
        self.limits = limits
    }

    /// Forgets the current section but keeps the buffer's capacity.
    mutating func reset() {
        state = .inLine
        buffer.removeAll(keepingCapacity: true)
        lineIndex = 0
        lineLength = 0
        totalBytes = 0
        fieldCount = 0
        emptyLinesSkipped = 0
        hasConsumedBytes = false
    }

    /// Consumes `input` until the section ends or the input does.
    ///
    /// The line counters are locals while scanning and are written back when the call returns (a refusal
    /// spends the parser, so a throw leaves them as they are): kept in `self`, each line paid a dozen loads
    /// and stores through it.
    mutating func scan(_ input: UnsafeRawBufferPointer) throws(HTTPParseError) -> Outcome {
        var afterCR: Bool
        switch state {
        case .afterCR: afterCR = true
        case .inLine: afterCR = false
        }
        var lineIndex = self.lineIndex
        var lineLength = self.lineLength
        var totalBytes = self.totalBytes
        var fieldCount = self.fieldCount
        let maxBytes = limits.maxBytes
        let hasStartLine = limits.hasStartLine
        let maxStartLine = limits.maxStartLine
        var sectionStart = 0
        var i = 0
        let n = input.count
        while i < n {
            if afterCR {
                guard input[i] == ASCII.lf else { throw .bareCR }
                i += 1
                afterCR = false
                totalBytes += 1
                if totalBytes > maxBytes { throw limits.tooLarge }
                if lineLength > 0 {
                    lineIndex += 1
                    lineLength = 0
                } else if hasStartLine && lineIndex == 0 {
                    try skipEmptyLine()
                    totalBytes = 0
                    sectionStart = i
                } else {
                    self.fieldCount = fieldCount
                    return finish(input, from: sectionStart, to: i)
                }
                continue
            }
            // Fast path: the run of ordinary bytes up to the next CR or LF, stopping one byte past
            // the first limit it would cross so that a flood is refused without being read through.
            let runStart = i
            let isStartLine = hasStartLine && lineIndex == 0
            var room = maxBytes - totalBytes
            if isStartLine { room = min(room, maxStartLine - lineLength) }
            room = max(0, room)
            let runEnd = room < n - i ? i + room + 1 : n
            i = Self.firstLineEnd(input, from: i, to: runEnd)
            if i > runStart {
                if lineLength == 0 && !isStartLine {
                    fieldCount += 1
                    if fieldCount > limits.maxFields { throw limits.tooManyFields }
                }
                lineLength += i - runStart
                if isStartLine && lineLength > maxStartLine { throw limits.startLineTooLong }
                totalBytes += i - runStart
                if totalBytes > maxBytes { throw limits.tooLarge }
            }
            if i < n {
                guard input[i] == ASCII.cr else { throw .bareLF }
                i += 1
                totalBytes += 1
                if totalBytes > maxBytes { throw limits.tooLarge }
                afterCR = true
            }
        }
        state = afterCR ? .afterCR : .inLine
        self.lineIndex = lineIndex
        self.lineLength = lineLength
        self.totalBytes = totalBytes
        self.fieldCount = fieldCount
        if n > 0 {
            hasConsumedBytes = true
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[sectionStart..<n]))
        }
        return .needMore(consumed: n)
    }

    /// The offset of the first CR or LF in `input[start..<end]`, or `end`.
    ///
    /// Eight bytes at a time (a word has a CR or LF byte iff `w ^ 0x0D0D...` or `w ^ 0x0A0A...` has a zero
    /// byte, the classic `(x - 0x01..) & ~x & 0x80..` test, which is exact), then byte by byte inside the
    /// word that has one: the whole head is crossed here, and a long token in one field made a byte loop a
    /// visible part of each request.
    @inline(__always)
    private static func firstLineEnd(_ input: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let crs = ones &* UInt64(ASCII.cr)
        let lfs = ones &* UInt64(ASCII.lf)
        var i = start
        while end - i >= 8 {
            let word = input.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let a = word ^ crs
            let b = word ^ lfs
            if ((a &- ones) & ~a | (b &- ones) & ~b) & highs != 0 { break }
            i += 8
        }
        while i < end, input[i] != ASCII.cr, input[i] != ASCII.lf { i += 1 }
        return i
    }

    /// An empty field array for the section just delivered: the last one's storage when nothing else holds
    /// it any more. Hand the filled array back with `recycle(fields:)`.
    mutating func takeFieldArray() -> [HeaderFields.Field] {
        var fields: [HeaderFields.Field] = []
        swap(&fields, &recycledFields)
        fields.removeAll(keepingCapacity: true)
        return fields
    }

    /// Keeps a reference to the field array of the head just built, for `takeFieldArray` next time.
    mutating func recycle(fields: [HeaderFields.Field]) {
        if fields.capacity <= Self.maxRecycledFields { recycledFields = fields }
    }

    /// An empty line before the start line: not part of the head, tolerated a few times.
    private mutating func skipEmptyLine() throws(HTTPParseError) {
        emptyLinesSkipped += 1
        if emptyLinesSkipped > limits.maxLeadingEmptyLines { throw .tooManyEmptyLines }
        hasConsumedBytes = true
        buffer.removeAll(keepingCapacity: true)  // a CR kept from an earlier call
        totalBytes = 0
    }

    private mutating func finish(_ input: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Outcome {
        let piece = UnsafeRawBufferPointer(rebasing: input[start..<end])
        var bytes: [UInt8] = []
        swap(&bytes, &recycledBytes)
        bytes.removeAll(keepingCapacity: true)  // in place when unshared; else new storage, as before
        bytes.reserveCapacity(buffer.count + piece.count)
        bytes.append(contentsOf: buffer)
        bytes.append(contentsOf: piece)
        if bytes.capacity <= Self.maxRecycledBytes { recycledBytes = bytes }
        let fields = fieldCount
        reset()
        return .complete(bytes: bytes, fieldCount: fields, consumed: end)
    }
}
