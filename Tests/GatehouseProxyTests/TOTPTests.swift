import GatehouseSessions
import Testing

@Suite("TOTP (RFC 6238) core")
struct TOTPTests {
    @Test("RFC 6238 appendix B: the SHA-1 rows (8 digits, secret \"12345678901234567890\")")
    func appendixB() {
        let secret = Array("12345678901234567890".utf8)
        let rows: [(Int64, String)] = [
            (59, "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"), (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
        ]
        for (time, expected) in rows { #expect(TOTP.code(secret: secret, time: time, digits: 8) == expected, "\(time)") }
    }

    @Test("6 digits are the last 6 of the same value; the code changes with the 30-second step")
    func sixDigits() {
        let secret = Array("12345678901234567890".utf8)
        #expect(TOTP.code(secret: secret, time: 59) == "287082")
        #expect(TOTP.code(secret: secret, time: 30) == TOTP.code(secret: secret, time: 59))
        #expect(TOTP.code(secret: secret, time: 60) != TOTP.code(secret: secret, time: 59))
    }
}
