/// The header fields of one message, kept as the bytes that arrived plus offsets into them.
///
/// Why bytes and ranges: the proxy re-serialises every request and response, and doing so from
/// offsets into one buffer costs two allocations per message instead of two `String`s per field.
/// Names keep their original case (we forward them as received); lookups are ASCII
/// case-insensitive.
///
/// ```
/// storage: Host: a.example\r\nAccept: */*\r\n ...
///          ^name^  ^value^      (OWS around the value is not part of `value`)
/// ```
package struct HeaderFields: Sendable {
    /// One field: where its name and its value lie in `storage`.
    package struct Field: Sendable, Equatable {
        package var name: Range<Int>
        package var value: Range<Int>
    }

    /// The bytes the ranges point into.
    package private(set) var storage: [UInt8]
    /// The fields in arrival order.
    package private(set) var fields: [Field]

    package init() {
        storage = []
        fields = []
    }

    package init(storage: [UInt8], fields: [Field]) {
        self.storage = storage
        self.fields = fields
    }

    package var count: Int { fields.count }

    /// Appends a field whose bytes are copied into `storage`. The caller has validated them.
    package mutating func append(name: some Collection<UInt8>, value: some Collection<UInt8>) {
        let nameStart = storage.count
        storage.append(contentsOf: name)
        let valueStart = storage.count
        storage.append(contentsOf: value)
        fields.append(Field(name: nameStart..<valueStart, value: valueStart..<storage.count))
    }

    package mutating func append(name: String, value: String) {
        append(name: name.utf8, value: value.utf8)
    }

    /// Removes the fields for which `shouldRemove` is true; storage is left as is.
    package mutating func removeAll(where shouldRemove: (Field) -> Bool) {
        fields.removeAll(where: shouldRemove)
    }

    /// The name of field `index` as a String (allocates; not for the hot path).
    package func name(at index: Int) -> String { String(decoding: storage[fields[index].name], as: UTF8.self) }
    /// The value of field `index` as a String (allocates; not for the hot path).
    package func value(at index: Int) -> String { String(decoding: storage[fields[index].value], as: UTF8.self) }

    /// True when field `index` is named `lowercaseName` (which must be lowercase ASCII), ignoring case.
    package func nameEquals(_ index: Int, _ lowercaseName: StaticString) -> Bool {
        bytesEqualIgnoringCase(fields[index].name, lowercaseName)
    }

    /// True when the bytes in `range` equal `lowercase` ignoring ASCII case.
    package func bytesEqualIgnoringCase(_ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        // Over the raw buffers: names are compared several times per field on every request.
        return storage.withUnsafeBufferPointer { bytes in
            lowercase.withUTF8Buffer { want in
                var i = 0
                for j in range {
                    if asciiLower(bytes[j]) != want[i] { return false }
                    i += 1
                }
                return true
            }
        }
    }

    /// The first value of the field named `lowercaseName`, as a String, if present.
    package func first(_ lowercaseName: StaticString) -> String? {
        for i in fields.indices where nameEquals(i, lowercaseName) { return value(at: i) }
        return nil
    }
}

@inline(__always)
package func asciiLower(_ b: UInt8) -> UInt8 {
    (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) ? b | 0x20 : b
}
