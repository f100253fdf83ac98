/// The syntax of names the operator gives to upstreams and routes.
///
/// Names appear in key paths (`upstreams.app.servers`), log lines and metric labels, so they
/// are restricted to 1...64 ASCII letters, digits, `-` and `_`, starting with a letter or a
/// digit: no dots (they would make key paths ambiguous), no blanks, no quoting needed anywhere.
enum ConfigName {
    /// The longest accepted name.
    static let maximumLength = 64

    /// Checks a name.
    ///
    /// - Parameter name: The name from the file.
    /// - Returns: Why it is refused, or `nil` if it is valid.
    static func problem(_ name: String) -> String? {
        guard let first = name.first else {
            return "a name cannot be empty"
        }
        if name.count > maximumLength {
            return "\"\(name)\" is longer than \(maximumLength) characters"
        }
        let allowed = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        if !allowed || !(first.isLetter || first.isNumber) {
            return
                "\"\(name)\" is not a valid name: use letters, digits, \"-\" and \"_\", starting with a letter or digit"
        }
        return nil
    }
}
