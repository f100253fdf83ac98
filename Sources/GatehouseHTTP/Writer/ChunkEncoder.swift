/// The writing half of the chunked transfer coding (RFC 9112 section 7.1); `BodyDecoder` is the reading half.
///
/// ```
/// chunk      = chunk-size CRLF chunk-data CRLF      (size in lowercase hex, no extensions)
/// last-chunk = "0" CRLF
/// trailer-section = *( field-line CRLF ) CRLF
/// ```
/// The gateway frames every body piece it forwards as one chunk of its own: the size line and the CRLF come
/// from here, the data itself is moved between buffers by the caller and never passes through this type.
/// Everything is appended to the caller's buffer (a reused scratch array), so nothing here allocates once that
/// buffer has grown to size. Which trailer fields may cross is the caller's policy, passed in as a filter.
package enum ChunkEncoder {
    /// The CRLF that closes a chunk's data, for callers that queue it straight behind moved payload bytes.
    package static let dataEnd: StaticString = "\r\n"

    /// Appends the size line opening a chunk of `size` payload bytes. `size` must be positive: a zero size is
    /// the last chunk and ends the body (see `appendLastChunk`).
    package static func appendHeader(size: Int, to out: inout [UInt8]) {
        precondition(size > 0, "a chunk of 0 bytes is the last chunk")
        appendHex(size, to: &out)
        out.append(ASCII.cr)
        out.append(ASCII.lf)
    }

    /// Appends the CRLF that closes a chunk's data.
    package static func appendDataEnd(to out: inout [UInt8]) {
        out.append(ASCII.cr)
        out.append(ASCII.lf)
    }

    /// Appends a whole chunk holding `data`; nothing for empty data (an empty chunk would end the body).
    package static func appendChunk(_ data: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        guard !data.isEmpty else { return }
        appendHeader(size: data.count, to: &out)
        out.append(contentsOf: data)
        appendDataEnd(to: &out)
    }

    /// Appends the last chunk, the fields of `trailers` for which `keep(trailers, index)` is true, in order and
    /// as received (`Name: value` CRLF; they were validated when parsed or appended), and the final CRLF.
    package static func appendLastChunk(
        trailers: HeaderFields, keeping keep: (HeaderFields, Int) -> Bool, to out: inout [UInt8]
    ) {
        out.append(UInt8(ascii: "0"))
        appendDataEnd(to: &out)
        for index in trailers.fields.indices where keep(trailers, index) {
            let field = trailers.fields[index]
            out.append(contentsOf: trailers.storage[field.name])
            out.append(ASCII.colon)
            out.append(ASCII.space)
            out.append(contentsOf: trailers.storage[field.value])
            appendDataEnd(to: &out)
        }
        appendDataEnd(to: &out)
    }

    /// Appends the last chunk with every field of `trailers` (none by default), and the final CRLF.
    package static func appendLastChunk(trailers: HeaderFields = HeaderFields(), to out: inout [UInt8]) {
        appendLastChunk(trailers: trailers, keeping: { _, _ in true }, to: &out)
    }

    /// Appends `value` (not negative) as lowercase hex without leading zeros; "0" for 0.
    package static func appendHex(_ value: Int, to out: inout [UInt8]) {
        var shift = 60
        while shift > 0 && (value >> shift) & 0xf == 0 { shift -= 4 }
        while shift >= 0 {
            let digit = UInt8((value >> shift) & 0xf)
            out.append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            shift -= 4
        }
    }
}
