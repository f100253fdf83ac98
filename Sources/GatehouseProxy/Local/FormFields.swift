import GatehouseAuth

/// The fields of a small request body the gateway reads itself: `application/x-www-form-urlencoded` (the
/// login page's form) or a JSON object of strings (API clients).
enum FormFields {
    /// Why a body could not be read.
    enum Failure: Error {
        case unsupportedMediaType
        case malformed
    }

    /// The string fields of `body` by its `Content-Type`. Later duplicates of a form field are ignored.
    static func read(_ body: [UInt8], contentType: String?) -> Result<[String: String], Failure> {
        let type = (contentType ?? "").split(separator: ";").first.map {
            $0.trimmingCharacters(in: " \t").lowercased()
        } ?? ""
        switch type {
        case "application/x-www-form-urlencoded":
            return .success(parse(body))
        case "application/json":
            guard let members = try? JSONScanner.parseObject(body) else { return .failure(.malformed) }
            var fields: [String: String] = [:]
            for (name, value) in members {
                if case .string(let text) = value { fields[name] = text }
            }
            return .success(fields)
        case "" where body.isEmpty:
            return .success([:])
        default:
            return .failure(.unsupportedMediaType)
        }
    }

    /// `a=1&b=2` with `+` as space and `%XX` escapes; a field whose escapes are broken is dropped.
    static func parse(_ bytes: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]) else { continue }
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if let value, fields[name] == nil { fields[name] = value }
        }
        return fields
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.endIndex, let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) else {
                    return nil
                }
                out.append(hi << 4 | lo)
                i += 2
            } else {
                out.append(b)
            }
            i += 1
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self[...]
        while let first = s.first, set.contains(first) { s = s.dropFirst() }
        while let last = s.last, set.contains(last) { s = s.dropLast() }
        return String(s)
    }
}
