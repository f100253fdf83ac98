// libFuzzer target: the Crypto-free JOSE layer (Sources/GatehouseAuth/JOSE, AuthFailure.swift,
// Keys/JWSAlgorithm.swift), built by `scripts/fuzz.sh jose`. Adapted from the first harness written
// for the auth work (/tmp/authfuzz), with its differential checks kept and a few added.
//
// Input: the whole input is, at once, a JSON document, a base64url text and a compact JWS.
// Besides "no crash" (and linear time: -timeout), it checks:
// - JSONScanner: an accepted document is valid UTF-8 overall (stdlib cross-check), yields only valid
//   strings and finite numbers, has unique member names, nests at most `defaultMaxDepth`; writing
//   the parsed value back out as JSON and parsing that again gives the same value (round trip);
// - Base64URL: an accepted text is canonical (re-encoding the result gives the input back);
// - CompactJWS: an accepted token has exactly two dots, each segment re-encodes to itself, and the
//   signing input is the token up to the second dot; its header and payload go through
//   JOSEHeader (and `checkCritical`) and the scanner.

/// Unpadded base64url encoding, the reference the strict decoder must agree with.
func encode(_ input: [UInt8]) -> [UInt8] {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    var output: [UInt8] = []
    var i = 0
    while i + 3 <= input.count {
        let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
        for s in [18, 12, 6, 0] { output.append(alphabet[Int(v >> UInt32(s) & 0x3F)]) }
        i += 3
    }
    if input.count - i == 1 {
        let v = UInt32(input[i]) << 16
        for s in [18, 12] { output.append(alphabet[Int(v >> UInt32(s) & 0x3F)]) }
    } else if input.count - i == 2 {
        let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
        for s in [18, 12, 6] { output.append(alphabet[Int(v >> UInt32(s) & 0x3F)]) }
    }
    return output
}

func stringsAreValid(_ value: ClaimValue) -> Bool {
    switch value {
    case .string(let s): return String(validating: Array(s.utf8), as: UTF8.self) != nil
    case .array(let a): return a.allSatisfy(stringsAreValid)
    case .object(let o): return o.allSatisfy { stringsAreValid(.string($0.0)) && stringsAreValid($0.1) }
    case .number(let d): return d.isFinite
    default: return true
    }
}

/// Nesting depth, counting the value itself when it is an object or array (the scanner's convention).
func depth(_ value: ClaimValue) -> Int {
    switch value {
    case .array(let a): return 1 + (a.map(depth).max() ?? 0)
    case .object(let o): return 1 + (o.map { depth($0.1) }.max() ?? 0)
    default: return 0
    }
}

/// Names unique within every object, at every level.
func namesAreUnique(_ value: ClaimValue) -> Bool {
    switch value {
    case .array(let a): return a.allSatisfy(namesAreUnique)
    case .object(let o):
        let names = o.map(\.0)
        return Set(names).count == names.count && o.allSatisfy { namesAreUnique($0.1) }
    default: return true
    }
}

/// Writes `value` as JSON (strings escaped minimally, numbers in Swift's round-trip spelling).
func write(_ value: ClaimValue, to out: inout [UInt8]) {
    switch value {
    case .string(let s): writeString(s, to: &out)
    case .number(let d): out.append(contentsOf: "\(d)".utf8)
    case .integer(let i): out.append(contentsOf: "\(i)".utf8)
    case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
    case .null: out.append(contentsOf: "null".utf8)
    case .array(let a):
        out.append(UInt8(ascii: "["))
        for (i, element) in a.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            write(element, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    case .object(let o):
        out.append(UInt8(ascii: "{"))
        for (i, member) in o.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            writeString(member.0, to: &out)
            out.append(UInt8(ascii: ":"))
            write(member.1, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

func writeString(_ s: String, to out: inout [UInt8]) {
    let hex = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for byte in s.utf8 {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            out.append(UInt8(ascii: "\\"))
            out.append(byte)
        case 0..<0x20:
            out.append(contentsOf: Array("\\u00".utf8))
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        default:
            out.append(byte)
        }
    }
    out.append(UInt8(ascii: "\""))
}

func checkJSON(_ bytes: [UInt8]) {
    guard let members = try? JSONScanner.parseObject(bytes) else { return }
    let value = ClaimValue.object(members)
    // Accepted JSON must be valid UTF-8 overall (stdlib cross-check) and yield valid strings.
    precondition(String(validating: bytes, as: UTF8.self) != nil, "accepted invalid UTF-8")
    precondition(stringsAreValid(value), "invalid string or non-finite number accepted")
    precondition(namesAreUnique(value), "duplicate accepted")
    precondition(depth(value) <= JSONScanner.defaultMaxDepth, "nesting beyond maxDepth accepted")
    var written: [UInt8] = []
    write(value, to: &written)
    let reparsed = Result { () throws(AuthFailure) in try JSONScanner.parseObject(written) }
    guard case .success(let again) = reparsed, ClaimValue.object(again) == value else {
        fatalError("JSON round trip failed: \(String(decoding: written, as: UTF8.self)) -> \(reparsed)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJOSE(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkJSON(bytes)
    if let decoded = Base64URL.decode(bytes[...]) {
        precondition(encode(decoded) == bytes, "non-canonical base64url accepted")
    }
    if let jws = try? CompactJWS(bytes[...]) {
        let dots = bytes.indices.filter { bytes[$0] == UInt8(ascii: ".") }
        precondition(dots.count == 2, "\(dots.count) dots accepted")
        precondition(encode(jws.header) == Array(bytes[..<dots[0]]), "header segment not canonical")
        precondition(encode(jws.payload) == Array(bytes[(dots[0] + 1)..<dots[1]]), "payload segment not canonical")
        precondition(encode(jws.signature) == Array(bytes[(dots[1] + 1)...]), "signature segment not canonical")
        precondition(jws.signingInput == bytes[..<dots[1]], "signing input is not the token up to the second dot")
        if let header = try? JOSEHeader(jws.header) {
            precondition(!JWSAlgorithm.isNone(header.algorithm.rawValue), "alg none accepted")
            _ = try? header.checkCritical()
        }
        checkJSON(jws.header)
        checkJSON(jws.payload)
    }
    return 0
}
