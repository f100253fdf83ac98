import GatehouseSessions
import Testing

/// The parts of the second factor that need no gateway: which step a code matches, and the sealed pending state.
@Suite("Second factor: code matching and the pending state")
struct SecondFactorUnitTests {
    let secret = Array("12345678901234567890".utf8)
    let hash = "$2y$05$qUmtHMrGmz3NbI6jndR2j.n/g1uk4h5h2YLeCqFdWerF8rQ10V2d6"

    @Test("a code matches its own step and one either side, not two away; malformed codes match nothing")
    func matchingStep() {
        let t: Int64 = 1_111_111_109  // step 37037036
        let step = t / 30
        for offset: Int64 in [-1, 0, 1] {
            let code = TOTP.code(secret: secret, time: t + offset * 30)
            #expect(TOTP.matchingStep(secret: secret, presented: code, time: t) == step + offset, "\(offset)")
        }
        for offset: Int64 in [-2, 2, 10] {
            let code = TOTP.code(secret: secret, time: t + offset * 30)
            #expect(TOTP.matchingStep(secret: secret, presented: code, time: t) == nil, "\(offset)")
        }
        let right = TOTP.code(secret: secret, time: t)
        for bad in ["", String(right.dropLast()), right + "0", "abcdef", " " + right.dropFirst(), "-" + right.dropFirst(),
                    "１２３４５６"] {
            #expect(TOTP.matchingStep(secret: secret, presented: bad, time: t) == nil, "\(bad)")
        }
        // Another secret's code (almost always) matches nothing.
        let other = Array("another secret, 20 b".utf8)
        let foreign = TOTP.code(secret: other, time: t)
        if ![-1, 0, 1].contains(where: { TOTP.code(secret: secret, time: t + $0 * 30) == foreign }) {
            #expect(TOTP.matchingStep(secret: secret, presented: foreign, time: t) == nil)
        }
        // Near the epoch there is no step -1.
        #expect(TOTP.matchingStep(secret: secret, presented: TOTP.code(secret: secret, time: 0), time: 10) == 0)
    }

    @Test("the pending state opens for its user and client until it expires; anything changed is refused")
    func pendingState() throws {
        let now: Int64 = 1_000_000
        let pending = SecondFactorPending.start(user: "alice", client: "192.0.2.1", redirect: "/app?x=1", now: now)
        let sealed = pending.seal(secret: secret, passwordHash: hash)
        let keys: (String) -> (secret: [UInt8], passwordHash: String)? = { name in
            name == "alice" ? (self.secret, self.hash) : nil
        }
        #expect(try SecondFactorPending.open(sealed, client: "192.0.2.1", now: now + 299, account: keys).get() == pending)
        func refusal(_ text: String, client: String = "192.0.2.1", at: Int64 = now + 1,
                     account: @escaping (String) -> (secret: [UInt8], passwordHash: String)?) -> SecondFactorPending.Refusal? {
            if case .failure(let why) = SecondFactorPending.open(text, client: client, now: at, account: account) { return why }
            return nil
        }
        #expect(refusal(sealed, at: now + 300, account: keys) == .expired)
        #expect(refusal(sealed, client: "192.0.2.2", account: keys) == .otherClient)
        // A re-enrolment (new secret) or a password change voids it.
        #expect(refusal(sealed, account: { _ in (Array("new secret for alice".utf8), self.hash) }) == .tampered)
        #expect(refusal(sealed, account: { _ in (self.secret, self.hash + "x") }) == .tampered)
        #expect(refusal(sealed, account: { _ in nil }) == .unknownUser)
        // One changed character anywhere in the payload or the tag.
        var bytes = Array(sealed.utf8)
        bytes[5] = bytes[5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let flipped = String(decoding: bytes, as: UTF8.self)
        #expect([.tampered, .malformed].contains(refusal(flipped, account: keys)))
        var tag = Array(sealed.utf8)
        tag[tag.count - 2] = tag[tag.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(refusal(String(decoding: tag, as: UTF8.self), account: keys) == .tampered)
        for junk in ["", ".", "a.b", "no-dot", String(repeating: "x", count: 5000), sealed + "." + sealed] {
            #expect(refusal(junk, account: keys) != nil, "\(junk.prefix(10))")
        }
        // Two starts never share a nonce.
        #expect(SecondFactorPending.start(user: "alice", client: "c", redirect: nil, now: now).nonce
                != SecondFactorPending.start(user: "alice", client: "c", redirect: nil, now: now).nonce)
    }
}
