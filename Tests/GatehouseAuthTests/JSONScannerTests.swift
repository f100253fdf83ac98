import Testing

@testable import GatehouseAuth

@Suite struct JSONScannerTests {
    private func parse(_ text: String) throws(AuthFailure) -> [(String, ClaimValue)] {
        try JSONScanner.parseObject(Array(text.utf8))
    }

    private func parse(bytes: [UInt8]) throws(AuthFailure) -> [(String, ClaimValue)] {
        try JSONScanner.parseObject(bytes)
    }

    private func reason(_ text: String) -> String {
        reason(bytes: Array(text.utf8))
    }

    private func reason(bytes: [UInt8]) -> String {
        do {
            _ = try JSONScanner.parseObject(bytes)
            return "ok"
        } catch {
            return error.reason
        }
    }

    @Test func parsesEveryValueType() throws {
        let members = try parse(
            #" { "s" : "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00é", "i": -42, "z": 0, "d": 1.5e3, "t": true, "#
                + #""f": false, "n": null, "a": [1, [], {}], "o": {"k": "v"} } "#
        )
        #expect(members.map(\.0) == ["s", "i", "z", "d", "t", "f", "n", "a", "o"])
        #expect(members[0].1 == .string("x\"\\/\u{08}\u{0C}\n\r\té😀é"))
        #expect(members[1].1 == .integer(-42))
        #expect(members[2].1 == .integer(0))
        #expect(members[3].1 == .number(1500))
        #expect(members[4].1 == .bool(true))
        #expect(members[5].1 == .bool(false))
        #expect(members[6].1 == .null)
        #expect(members[7].1 == .array([.integer(1), .array([]), .object([])]))
        #expect(members[8].1 == .object([("k", .string("v"))]))
    }

    @Test func integersUseInt64ExactlyAndOverflowToDouble() throws {
        let members = try parse(
            #"{"max":9223372036854775807,"min":-9223372036854775808,"over":9223372036854775808,"neg0":-0,"#
                + #""big":1e300,"long":1234567890123456789012345678901234567890}"#
        )
        #expect(members[0].1 == .integer(.max))
        #expect(members[1].1 == .integer(.min))
        #expect(members[2].1 == .number(9223372036854775808.0))
        #expect(members[3].1 == .integer(0))
        #expect(members[4].1 == .number(1e300))
        #expect(members[5].1 == .number(1234567890123456789012345678901234567890.0))
    }

    @Test func hugeNumberTextNeverTraps() {
        #expect(reason(#"{"a":1e400}"#) == "bad-json")  // not finite as a Double
        #expect(reason(#"{"a":-1e400}"#) == "bad-json")
        #expect(reason(#"{"a":1e-400}"#) == "ok")  // underflows to zero: finite
        #expect(reason("{\"a\":" + String(repeating: "9", count: 5000) + "}") == "bad-json")
        #expect(reason("{\"a\":0." + String(repeating: "1", count: 5000) + "}") == "ok")
    }

    @Test(arguments: [
        "", " ", "[]", "\"x\"", "1", "null", "{", "}", "{}x", "{} {}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}",
        "{\"a\":1,}", "{,}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{'a':1}", "{a:1}", "{\"a\":01}", "{\"a\":-}",
        "{\"a\":+1}", "{\"a\":.5}", "{\"a\":1.}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":0x10}", "{\"a\":NaN}",
        "{\"a\":Infinity}", "{\"a\":-Infinity}", "{\"a\":tru}", "{\"a\":True}", "{\"a\":nul}", "{\"a\":1}/**/",
        "\u{FEFF}{}", "{\"a\":1}\u{0B}", "{\"a\":\"\\x41\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12G4\"}",
        "{\"a\":\"unterminated}", "{\"a\":\"\\\"}",
    ])
    func refusesNonJSON(_ text: String) {
        #expect(reason(text) == "bad-json")
    }

    @Test func acceptsAllJSONWhitespace() {
        #expect(reason(" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ 1 , 2 ] \t\r\n} \t\r\n") == "ok")
    }

    @Test func refusesDuplicateMembersEvenWhenEscapedDifferently() {
        #expect(reason(#"{"a":1,"a":2}"#) == "duplicate-member")
        #expect(reason(#"{"a":1,"\u0061":2}"#) == "duplicate-member")
        #expect(reason(#"{"é":1,"\u00e9":2}"#) == "duplicate-member")
        #expect(reason(#"{"o":{"x":1,"x":1}}"#) == "duplicate-member")
        #expect(reason(#"{"a":[{"x":1,"x":1}]}"#) == "duplicate-member")
        #expect(reason(#"{"a":1,"A":2,"a ":3}"#) == "ok")
    }

    @Test func refusesDuplicatesInLargeObjects() {
        // Past the linear-scan threshold the check switches to a set: both paths must catch duplicates.
        let members = (0..<200).map { #""m\#($0)":\#($0)"# }
        #expect(reason("{" + members.joined(separator: ",") + "}") == "ok")
        #expect(reason("{" + (members + [#""m7":0"#]).joined(separator: ",") + "}") == "duplicate-member")
        #expect(reason("{" + (members + [#""m199":0"#]).joined(separator: ",") + "}") == "duplicate-member")
        #expect(reason("{" + (members[0..<17] + [#""m16":0"#]).joined(separator: ",") + "}") == "duplicate-member")
    }

    @Test func boundsNestingDepth() {
        func nested(_ depth: Int, open: String, close: String) -> String {
            // The top-level object counts as depth 1.
            "{\"a\":" + String(repeating: open, count: depth - 1) + String(repeating: close, count: depth - 1) + "}"
        }
        #expect(reason(nested(32, open: "[", close: "]")) == "ok")
        #expect(reason(nested(33, open: "[", close: "]")) == "bad-json")
        #expect(reason(nested(10_000, open: "[", close: "]")) == "bad-json")
        let objects = "{\"a\":" + String(repeating: "{\"a\":", count: 31) + "1" + String(repeating: "}", count: 32)
        #expect(reason(objects) == "ok")
        let tooDeep = "{\"a\":" + String(repeating: "{\"a\":", count: 32) + "1" + String(repeating: "}", count: 33)
        #expect(reason(tooDeep) == "bad-json")
        // Unclosed deep nesting must not recurse without bound either.
        #expect(reason("{\"a\":" + String(repeating: "[", count: 100_000)) == "bad-json")
    }

    @Test func refusesInvalidUTF8() {
        let prefix = Array(#"{"a":""#.utf8)
        let suffix = Array(#""}"#.utf8)
        let bad: [[UInt8]] = [
            [0x80],  // lone continuation byte
            [0xC0, 0xAF],  // overlong "/"
            [0xC1, 0xBF],  // overlong
            [0xE0, 0x80, 0xAF],  // overlong three-byte
            [0xF0, 0x80, 0x80, 0xAF],  // overlong four-byte
            [0xED, 0xA0, 0x80],  // encoded surrogate U+D800
            [0xED, 0xBF, 0xBF],  // encoded surrogate U+DFFF
            [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
            [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE],
            [0xC3],  // truncated
            [0xE2, 0x82],  // truncated
            [0xE2, 0x28, 0xA1],  // bad continuation
        ]
        for sequence in bad {
            #expect(reason(bytes: prefix + sequence + suffix) == "bad-json", "\(sequence)")
        }
        // Non-ASCII outside a string.
        #expect(reason(bytes: Array(#"{"#.utf8) + [0xC3, 0xA9] + Array(#":1}"#.utf8)) == "bad-json")
        let good: [[UInt8]] = [
            [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xEF, 0xBF, 0xBF],
            [0xF4, 0x8F, 0xBF, 0xBF], [0xED, 0x9F, 0xBF],
        ]
        for sequence in good {
            #expect(reason(bytes: prefix + sequence + suffix) == "ok", "\(sequence)")
        }
    }

    @Test func refusesLoneAndMisorderedSurrogates() {
        #expect(reason(#"{"a":"\ud800"}"#) == "bad-json")
        #expect(reason(#"{"a":"\udc00"}"#) == "bad-json")
        #expect(reason(#"{"a":"\ud800\u0041"}"#) == "bad-json")
        #expect(reason(#"{"a":"\udc00\ud800"}"#) == "bad-json")
        #expect(reason(#"{"a":"\ud800x"}"#) == "bad-json")
        #expect(reason(#"{"a":"\ud800\ud800"}"#) == "bad-json")
        #expect(reason(#"{"\ud800":1}"#) == "bad-json")
        #expect(reason(#"{"a":"\uD83D\uDE00"}"#) == "ok")
    }

    @Test func refusesRawControlCharactersInStrings() {
        for byte in UInt8(0)..<0x20 {
            #expect(reason(bytes: Array(#"{"a":"x"#.utf8) + [byte] + Array(#""}"#.utf8)) == "bad-json", "\(byte)")
            #expect(reason(bytes: Array(#"{"x"#.utf8) + [byte] + Array(#"":1}"#.utf8)) == "bad-json", "\(byte)")
        }
        #expect(reason(#"{"a":"\u0000\u001f"}"#) == "ok")  // escaped control characters are valid JSON
        #expect(reason(bytes: Array(#"{"a":"x"#.utf8) + [0x7F] + Array(#""}"#.utf8)) == "ok")  // DEL is allowed
    }

    @Test func claimValueEqualityComparesObjectsInOrder() {
        let a = ClaimValue.object([("x", .integer(1)), ("y", .string("z"))])
        #expect(a == .object([("x", .integer(1)), ("y", .string("z"))]))
        #expect(a != .object([("y", .string("z")), ("x", .integer(1))]))
        #expect(a != .object([("x", .integer(1))]))
        #expect(ClaimValue.integer(1) != .number(1))
        #expect(a.member("y") == .string("z"))
        #expect(ClaimValue.string("q").stringValue == "q")
        #expect(ClaimValue.null.member("x") == nil)
    }
}
