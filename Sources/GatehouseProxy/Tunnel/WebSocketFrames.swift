/// Where the frames of the upstream's half of a WebSocket tunnel begin (RFC 6455 5.2), so that the gateway knows
/// when the client has been sent only whole frames and it may add one of its own: the close frame (1008, policy
/// violation) it sends when the tunnel's session ends.
///
/// Only frame headers are read (2 to 14 bytes per frame); payloads are moved without being looked at, as before.
/// A frame header split across reads stays in the upstream's input until the rest arrives (a few bytes, a moment).
/// Whatever the upstream sends, this only decides boundaries: bytes that are not WebSocket frames give sizes that
/// never end on a boundary, and the gateway then closes without a frame of its own.
struct WebSocketFrames {
    /// Bytes of the current upstream frame (header included) not yet passed to the client; 0 at a boundary.
    var remaining: UInt64 = 0

    /// True when the client has been sent whole frames only.
    var atBoundary: Bool { remaining == 0 }

    /// The size (header and payload) of the frame whose header starts `bytes`, or nil when the header is not all
    /// there yet. Payload lengths are the 7-bit, 16-bit or 64-bit forms; a masked frame has 4 more header bytes.
    static func frameSize(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count >= 2 else { return nil }
        let masked = bytes[1] & 0x80 != 0
        let short = UInt64(bytes[1] & 0x7f)
        var header = 2
        var payload = short
        if short == 126 {
            guard bytes.count >= 4 else { return nil }
            payload = UInt64(bytes[2]) << 8 | UInt64(bytes[3])
            header = 4
        } else if short == 127 {
            guard bytes.count >= 10 else { return nil }
            payload = 0
            for index in 2..<10 { payload = payload << 8 | UInt64(bytes[index]) }
            // The most significant bit must be 0; a larger length is not a frame (never a boundary again).
            guard payload < 1 << 62 else { return UInt64.max }
            header = 10
        }
        if masked { header += 4 }
        return UInt64(header) + payload
    }

    /// Close, 1008 (policy violation), reason "session ended": a server frame, so unmasked.
    static let sessionEndedClose: [UInt8] = [0x88, 15, 0x03, 0xF0] + Array("session ended".utf8)
}
