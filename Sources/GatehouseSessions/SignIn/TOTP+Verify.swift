import GatehouseAuth

extension TOTP {
    /// Steps either side of now that a code may come from (RFC 6238 section 5.2's recommended one step): a
    /// phone whose clock is 30 s off, or a code typed as it turned over, still signs in.
    package static let allowedDrift: Int64 = 1

    /// The time step (Unix time / 30) whose code `presented` is, within `allowedDrift` of `time`; nil when it
    /// matches none. All candidate steps are computed and compared in constant time whatever matches, so the
    /// answer's timing tells nothing about which digits or which step were right.
    package static func matchingStep(secret: [UInt8], presented: String, time: Int64, step: Int64 = 30,
                                     digits: Int = 6) -> Int64? {
        let bytes = Array(presented.utf8)
        let wellFormed = bytes.count == digits && bytes.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        // A malformed code is compared too (against a code of the right length), so it costs the same.
        let candidate = wellFormed ? bytes : [UInt8](repeating: 0, count: digits)
        let now = max(0, time) / step
        var found: Int64? = nil
        for counter in (now - allowedDrift)...(now + allowedDrift) where counter >= 0 {
            let expected = Array(hotp(secret: secret, counter: UInt64(counter), digits: digits).utf8)
            if ConstantTime.equal(candidate, expected), wellFormed, found == nil { found = counter }
        }
        return found
    }
}
