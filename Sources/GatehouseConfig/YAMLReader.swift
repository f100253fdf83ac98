import Yams

/// One `key: value` pair of a YAML mapping, with the key's text.
struct YAMLEntry {
    /// The key's text.
    let key: String
    /// The key node (its mark is where "unknown key" and "duplicate key" point).
    let keyNode: Node
    /// The value node, possibly a null scalar.
    let value: Node
}

/// A mapping whose keys were checked against a schema: what is left is known and unique.
struct YAMLFields {
    /// The dotted path of the mapping itself (`server.limits`); empty for the root.
    let path: String
    /// Where "missing key" points: the mapping, or the key that held an empty value.
    let location: SourceLocation?
    /// The known keys, first occurrence only.
    let entries: [String: YAMLEntry]
    /// The known keys in file order (for readers whose result follows the file's order).
    let keys: [String]

    /// The dotted path of one of this mapping's keys.
    func path(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The value of `key`, or `nil` if it is absent or null (`key:`, `key: ~`): null means
    /// "use the default" for every optional key.
    func value(_ key: String) -> Node? {
        guard let entry = entries[key], !ConfigReader.isNull(entry.value) else { return nil }
        return entry.value
    }
}

/// Walks a composed YAML tree for the section readers and collects every problem it meets.
///
/// The readers never stop at the first error: each accessor reports what is wrong and
/// returns `nil`, the caller carries on with the next key, and ``ConfigLoader`` throws the
/// whole list at the end. Yams types stay inside this module (internal import).
///
/// Scalars are read as text and parsed here, not through Yams' resolver, so YAML 1.1 surprises
/// (`off` as a boolean, `1:30` as sexagesimal, `010` as octal) cannot change a value's meaning.
final class ConfigReader {
    /// The file name put in every location.
    let file: String
    /// The problems found so far, in the order they were met.
    private(set) var errors: [ConfigError] = []

    /// Creates a reader for one file.
    ///
    /// - Parameter file: The path shown in locations.
    init(file: String) {
        self.file = file
    }

    // MARK: Reporting

    /// The location of a node, if Yams recorded one (composed nodes always have one).
    func location(of node: Node?) -> SourceLocation? {
        guard let mark = node?.mark else { return nil }
        return SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    /// Records a problem at a location.
    func report(_ code: ConfigError.Code, at location: SourceLocation?, key: String, _ message: String) {
        errors.append(ConfigError(code: code, location: location, key: key, message: message))
    }

    /// Records a problem at a node.
    func report(_ code: ConfigError.Code, at node: Node?, key: String, _ message: String) {
        report(code, at: location(of: node), key: key, message)
    }

    /// Whether `node` is YAML null: an empty plain scalar, `~` or `null`.
    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// A short description of what a node is, for "expected X, got Y" messages.
    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let scalar):
            if isNull(node) { return "nothing" }
            let text = scalar.string.count > 40 ? scalar.string.prefix(37) + "..." : scalar.string
            return "\"\(text)\""
        }
    }

    // MARK: Mappings

    /// The pairs of a mapping, with non-string and duplicate keys reported and dropped.
    ///
    /// - Parameters:
    ///   - node: The node that should be a mapping.
    ///   - path: Its dotted path.
    /// - Returns: The pairs in file order, or `nil` (reported) if `node` is not a mapping.
    func entries(of node: Node, path: String) -> [YAMLEntry]? {
        guard case .mapping(let mapping) = node else {
            report(.wrongType, at: node, key: path, "expected a mapping, got \(Self.describe(node))")
            return nil
        }
        var result: [YAMLEntry] = []
        var firstLine: [String: Int] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode, !Self.isNull(keyNode) else {
                report(.wrongType, at: keyNode, key: path, "keys must be strings, got \(Self.describe(keyNode))")
                continue
            }
            let key = scalar.string
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            if key == "<<" && scalar.style == .plain {
                report(
                    .unknownKey, at: keyNode, key: keyPath, "YAML merge keys (<<) are not supported; write the keys out"
                )
                continue
            }
            if let line = firstLine[key] {
                report(.duplicateKey, at: keyNode, key: keyPath, "duplicate key; first defined at line \(line)")
                continue
            }
            firstLine[key] = keyNode.mark?.line ?? 0
            result.append(YAMLEntry(key: key, keyNode: keyNode, value: value))
        }
        return result
    }

    /// Checks a mapping against the keys a section allows.
    ///
    /// - Parameters:
    ///   - node: The section's value; `nil` or null gives an empty set of fields (all defaults).
    ///   - path: The section's dotted path.
    ///   - allowed: The keys the schema knows, in documentation order (used for suggestions).
    ///   - near: Where "missing key" should point if the section is absent or null.
    ///   - refused: Keys that are recognised only to be refused, with the reason (e.g. a literal
    ///     `secret`); they are never offered as suggestions.
    /// - Returns: The known fields, or `nil` (reported) if `node` is not a mapping.
    func fields(
        of node: Node?, path: String, allowed: [String], near: SourceLocation?, refused: [String: String] = [:]
    ) -> YAMLFields? {
        guard let node, !Self.isNull(node) else {
            return YAMLFields(path: path, location: near, entries: [:], keys: [])
        }
        guard let pairs = entries(of: node, path: path) else { return nil }
        var known: [String: YAMLEntry] = [:]
        var order: [String] = []
        for entry in pairs {
            let keyPath = path.isEmpty ? entry.key : "\(path).\(entry.key)"
            if allowed.contains(entry.key) {
                known[entry.key] = entry
                order.append(entry.key)
            } else if let reason = refused[entry.key] {
                report(.invalidValue, at: entry.keyNode, key: keyPath, reason)
            } else if let suggestion = KeySuggestion.nearest(to: entry.key, among: allowed) {
                report(.unknownKey, at: entry.keyNode, key: keyPath, "unknown key; did you mean \"\(suggestion)\"?")
            } else {
                let list = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
                report(.unknownKey, at: entry.keyNode, key: keyPath, "unknown key; expected one of \(list)")
            }
        }
        return YAMLFields(path: path, location: location(of: node), entries: known, keys: order)
    }

    /// The value of a key the schema requires; reports it if absent or null.
    func required(_ fields: YAMLFields, _ key: String) -> Node? {
        if let value = fields.value(key) {
            return value
        }
        if let entry = fields.entries[key] {
            report(.missingKey, at: entry.keyNode, key: fields.path(key), "a value is required")
        } else {
            report(.missingKey, at: fields.location, key: fields.path(key), "missing required key")
        }
        return nil
    }

    // MARK: Scalars and lists

    /// The text of a scalar; reports a list, a mapping or null.
    ///
    /// - Parameters:
    ///   - node: The value.
    ///   - path: Its dotted path.
    ///   - expected: What should be there, e.g. `a duration such as 10s`.
    /// - Returns: The scalar's text, or `nil` (reported).
    func text(_ node: Node, path: String, expected: String) -> String? {
        guard case .scalar(let scalar) = node, !Self.isNull(node) else {
            report(.wrongType, at: node, key: path, "expected \(expected), got \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    /// The elements of a list; a single scalar is taken as a one-element list.
    ///
    /// - Parameters:
    ///   - node: The value.
    ///   - path: Its dotted path; elements get `path[i]`.
    ///   - expected: What the elements should be, for the message when `node` is a mapping.
    /// - Returns: Each element with its path, or `nil` (reported) if `node` is a mapping.
    func list(_ node: Node, path: String, expected: String) -> [(node: Node, path: String)]? {
        switch node {
        case .scalar:
            return [(node, path)]
        case .sequence(let sequence):
            return sequence.enumerated().map { index, element in (element, "\(path)[\(index)]") }
        case .mapping:
            report(.wrongType, at: node, key: path, "expected a list of \(expected), got a mapping")
            return nil
        }
    }

    /// Reads a scalar and parses it; reports the node's shape or the parser's reason.
    ///
    /// - Parameters:
    ///   - node: The value.
    ///   - path: Its dotted path.
    ///   - expected: What should be there, for wrong-shape messages.
    ///   - parse: The parser for the text.
    /// - Returns: The parsed value, or `nil` (reported).
    func parse<Value>(
        _ node: Node, path: String, expected: String, with parse: (String) -> ParseOutcome<Value>
    ) -> Value? {
        guard let text = text(node, path: path, expected: expected) else { return nil }
        switch parse(text) {
        case .parsed(let value):
            return value
        case .invalid(let reason):
            report(.invalidValue, at: node, key: path, reason)
            return nil
        }
    }

    /// Reads a file path: non-empty, no NUL; relative paths are relative to the working directory (key files,
    /// certificates, the users file, the session store).
    func filePath(_ node: Node, path: String) -> String? {
        guard let text = text(node, path: path, expected: "a file path") else { return nil }
        if text.isEmpty {
            report(.invalidValue, at: node, key: path, "expected a file path, got an empty string")
            return nil
        }
        if text.contains("\0") {
            report(.invalidValue, at: node, key: path, "a file path cannot contain a NUL character")
            return nil
        }
        return text
    }

    /// Reads a duration (`10s`), which must be greater than zero.
    func duration(_ node: Node, path: String) -> Duration? {
        parse(node, path: path, expected: "a duration such as 10s") { Units.duration($0) }
    }

    /// Reads a byte size (`64MiB`), which must be greater than zero.
    func byteSize(_ node: Node, path: String) -> Int64? {
        parse(node, path: path, expected: "a size such as 64MiB", with: Units.byteSize)
    }

    /// Reads a decimal integer within `range`.
    func integer(_ node: Node, path: String, in range: ClosedRange<Int>) -> Int? {
        parse(node, path: path, expected: "an integer") { Units.integer($0, in: range) }
    }

    /// Reads a list of `host:port` addresses; it must not be empty.
    ///
    /// - Parameters:
    ///   - node: The value: a list, or a single string.
    ///   - path: Its dotted path.
    ///   - requireIP: Whether hosts must be IP literals (listen addresses).
    ///   - allowPortZero: Whether port 0 is accepted (listen addresses).
    /// - Returns: The addresses, or `nil` if any was refused (all are reported).
    func socketAddresses(_ node: Node, path: String, requireIP: Bool, allowPortZero: Bool) -> [SocketAddressSpec]? {
        guard let elements = list(node, path: path, expected: "host:port strings") else { return nil }
        if elements.isEmpty {
            report(.invalidValue, at: node, key: path, "at least one address is required")
            return nil
        }
        var addresses: [SocketAddressSpec] = []
        var valid = true
        for element in elements {
            let address = parse(element.node, path: element.path, expected: "a host:port string") {
                SocketAddressSpec.parse($0, requireIP: requireIP, allowPortZero: allowPortZero)
            }
            if let address {
                addresses.append(address)
            } else {
                valid = false
            }
        }
        return valid ? addresses : nil
    }
}

extension ConfigReader {
    // MARK: Booleans and string lists

    /// The YAML 1.1 spellings that other tools read as booleans, with the word to write instead.
    private static let yaml11Booleans: [String: Bool] = [
        "yes": true, "no": false, "on": true, "off": false, "y": true, "n": false,
    ]

    /// Reads a boolean: exactly `true` or `false`.
    ///
    /// YAML 1.1's `yes`/`no`/`on`/`off` (and other spellings such as `True`) are refused with a
    /// hint rather than guessed: a flag that turns a check off must be unmistakable.
    ///
    /// - Parameters:
    ///   - node: The value.
    ///   - path: Its dotted path.
    /// - Returns: The boolean, or `nil` (reported).
    func boolean(_ node: Node, path: String) -> Bool? {
        guard let text = text(node, path: path, expected: "true or false") else { return nil }
        switch text {
        case "true":
            return true
        case "false":
            return false
        default:
            let lowered = text.lowercased()
            if let meant = lowered == "true" ? true : (lowered == "false" ? false : Self.yaml11Booleans[lowered]) {
                report(.invalidValue, at: node, key: path, "expected true or false, got \"\(text)\"; write \(meant)")
            } else {
                report(.invalidValue, at: node, key: path, "expected true or false, got \(Self.describe(node))")
            }
            return nil
        }
    }

    /// Reads a non-empty list of distinct, non-empty strings; a single string is a one-element list.
    ///
    /// - Parameters:
    ///   - node: The value.
    ///   - path: Its dotted path; elements get `path[i]`.
    ///   - one: What one element is, e.g. `a group name`.
    ///   - many: What the elements are, e.g. `group names`.
    ///   - empty: The message for an empty list.
    ///   - check: Further checks on one element; returns why it is refused, or `nil`.
    /// - Returns: The strings in file order, or `nil` if any problem was reported.
    func strings(
        _ node: Node, path: String, one expected: String, many: String, empty: String,
        check: (String) -> String? = { _ in nil }
    ) -> [String]? {
        guard let elements = list(node, path: path, expected: many) else { return nil }
        if elements.isEmpty {
            report(.invalidValue, at: node, key: path, empty)
            return nil
        }
        var values: [String] = []
        var valid = true
        for element in elements {
            guard let text = text(element.node, path: element.path, expected: expected) else {
                valid = false
                continue
            }
            if text.isEmpty {
                report(.invalidValue, at: element.node, key: element.path, "expected \(expected), got an empty string")
                valid = false
            } else if let problem = check(text) {
                report(.invalidValue, at: element.node, key: element.path, problem)
                valid = false
            } else if values.contains(text) {
                report(.invalidValue, at: element.node, key: element.path, "\"\(text)\" is listed twice")
                valid = false
            } else {
                values.append(text)
            }
        }
        return valid ? values : nil
    }
}
