/// The grammar of a chunk-size line, one byte at a time (RFC 9112 section 7.1 and 7.1.1):
///
/// ```
/// chunk-size [ chunk-ext ] CRLF
/// chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// chunk-ext-val  = token / quoted-string
/// ```
/// Extensions are validated and ignored. Nothing else is accepted: no whitespace before CRLF, no
/// sign or `0x`, no bare CR or LF anywhere.
struct ChunkLine {
    /// The position in the grammar.
    enum Position {
        /// In the hex digits of the size.
        case size
        /// BWS after the size or after an extension value; only ";" may follow.
        case beforeSemicolon
        /// After ";": BWS, then an extension name.
        case beforeName
        /// In an extension name.
        case name
        /// BWS after a name; "=" or ";" may follow.
        case afterName
        /// After "=": BWS, then a token or a quoted-string.
        case beforeValue
        /// In a token value.
        case tokenValue
        /// Inside a quoted-string value.
        case quoted
        /// After a backslash inside a quoted-string.
        case quotedPair
        /// Just after the closing quote.
        case afterQuoted
        /// CR seen; LF must follow.
        case lineFeed
    }

    var position = Position.size
    /// The size so far.
    var size: Int64 = 0
    /// Hex digits seen (at most 16, leading zeros included).
    var digits = 0
    /// Bytes of the line so far, CRLF excluded.
    var length = 0

    /// Feeds one byte. Returns true when the line is complete (its LF consumed).
    ///
    /// - Throws: `invalidChunkSize`, `chunkSizeOverflow`, `invalidChunkExtension`, `chunkLineTooLong`,
    ///   `bareCR`, `bareLF`.
    mutating func feed(_ b: UInt8, maxLength: Int) throws(HTTPParseError) -> Bool {
        if case .lineFeed = position {
            guard b == ASCII.lf else { throw .bareCR }
            return true
        }
        if b == ASCII.lf { throw .bareLF }
        if b == ASCII.cr {
            try endLine()
            return false
        }
        length += 1
        if length > maxLength { throw .chunkLineTooLong }
        if case .size = position {
            try feedSize(b)
        } else {
            try feedExtension(b)
        }
        return false
    }

    /// CR: allowed right after the size, a name or a value.
    private mutating func endLine() throws(HTTPParseError) {
        switch position {
        case .size:
            guard digits > 0 else { throw .invalidChunkSize }
        case .name, .tokenValue, .afterQuoted:
            break
        case .beforeSemicolon, .beforeName, .afterName, .beforeValue, .quoted, .quotedPair, .lineFeed:
            throw .invalidChunkExtension
        }
        position = .lineFeed
    }

    private mutating func feedSize(_ b: UInt8) throws(HTTPParseError) {
        if let value = TokenTables.hexValue(b) {
            digits += 1
            // 16 hex digits hold any UInt64; Int64 holds 15 and a bit: check both.
            guard digits <= 16, size <= (Int64.max - Int64(value)) / 16 else { throw .chunkSizeOverflow }
            size = size * 16 + Int64(value)
            return
        }
        guard digits > 0 else { throw .invalidChunkSize }
        switch b {
        case ASCII.semicolon: position = .beforeName
        case ASCII.space, ASCII.tab: position = .beforeSemicolon
        default: throw .invalidChunkSize
        }
    }

    private mutating func feedExtension(_ b: UInt8) throws(HTTPParseError) {
        let isWhitespace = b == ASCII.space || b == ASCII.tab
        let isTchar = TokenTables.isIn(b, .tchar)
        switch position {
        case .beforeSemicolon:
            guard isWhitespace || b == ASCII.semicolon else { throw .invalidChunkExtension }
            if !isWhitespace { position = .beforeName }
        case .beforeName:
            guard isWhitespace || isTchar else { throw .invalidChunkExtension }
            if isTchar { position = .name }
        case .name, .afterName:
            if b == ASCII.equals {
                position = .beforeValue
            } else if b == ASCII.semicolon {
                position = .beforeName
            } else if isWhitespace {
                position = .afterName
            } else {
                guard case .name = position, isTchar else { throw .invalidChunkExtension }
            }
        case .beforeValue:
            if b == ASCII.quote {
                position = .quoted
            } else {
                guard isWhitespace || isTchar else { throw .invalidChunkExtension }
                if isTchar { position = .tokenValue }
            }
        case .tokenValue, .afterQuoted:
            if b == ASCII.semicolon {
                position = .beforeName
            } else if isWhitespace {
                position = .beforeSemicolon
            } else {
                guard case .tokenValue = position, isTchar else { throw .invalidChunkExtension }
            }
        case .quoted:
            if b == ASCII.quote {
                position = .afterQuoted
            } else if b == ASCII.backslash {
                position = .quotedPair
            } else {
                guard TokenTables.isIn(b, .qdtext) else { throw .invalidChunkExtension }
            }
        case .quotedPair:
            guard isWhitespace || TokenTables.isIn(b, .fieldVChar) else { throw .invalidChunkExtension }
            position = .quoted
        case .size, .lineFeed:
            // Handled by `feed` before this is called.
            break
        }
    }
}
