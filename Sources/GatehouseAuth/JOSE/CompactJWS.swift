/// A compact JWS (RFC 7515 §7.1) split into its three segments and base64url-decoded.
///
/// ```
///  token:   HHHHHHHH . PPPPPPPPPPPPPPPP . SSSSSSSS
///           ^header    ^payload           ^signature        (each canonical unpadded base64url)
///           |<----- signingInput ----->|                    (the original bytes, verified as sent)
/// ```
///
/// Splitting is one pass that stops at the third dot, so a token of thousands of dots costs no more than
/// its first three. The signature is computed over the bytes exactly as received, never a re-encoding.
struct CompactJWS {
    /// The decoded JOSE header bytes (JSON, not yet parsed).
    let header: [UInt8]
    /// The decoded payload bytes (JSON claims, not yet parsed).
    let payload: [UInt8]
    /// `header '.' payload` as received: the input to the signature.
    let signingInput: ArraySlice<UInt8>
    /// The decoded signature bytes.
    let signature: [UInt8]

    /// Splits and decodes a token.
    ///
    /// - Parameter token: the token bytes, already size-checked.
    /// - Throws: `malformed` unless there are exactly three segments, the first two non-empty; `bad-base64`
    ///   for a segment that is not canonical unpadded base64url.
    init(_ token: ArraySlice<UInt8>) throws(AuthFailure) {
        var firstDot: Int? = nil
        var secondDot: Int? = nil
        var index = token.startIndex
        while index < token.endIndex {
            if token[index] == UInt8(ascii: ".") {
                if firstDot == nil {
                    firstDot = index
                } else if secondDot == nil {
                    secondDot = index
                } else {
                    throw .malformed  // a third dot: stop at once
                }
            }
            index += 1
        }
        guard let firstDot, let secondDot else { throw .malformed }
        let headerText = token[token.startIndex..<firstDot]
        let payloadText = token[(firstDot + 1)..<secondDot]
        let signatureText = token[(secondDot + 1)...]
        // An empty signature segment is let through here so that the classic unsecured token ("h.p.") is
        // reported as `alg-none`; it can never verify (no algorithm has a zero-length signature).
        guard !headerText.isEmpty, !payloadText.isEmpty else { throw .malformed }
        guard let header = Base64URL.decode(headerText), let payload = Base64URL.decode(payloadText),
            let signature = Base64URL.decode(signatureText)
        else { throw .badBase64 }
        self.header = header
        self.payload = payload
        self.signature = signature
        self.signingInput = token[token.startIndex..<secondDot]
    }
}
