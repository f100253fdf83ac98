/// One problem found in a configuration file: where it is, which key, and what is wrong.
///
/// The loader collects every problem it can find in one pass and throws them together as
/// ``ConfigErrors``, so an operator fixes a file in one round trip. `description` is the
/// line an operator sees: `file:line: key: message`.
///
/// Following the module-error rule (one error struct, cases in a private enum), the kind of
/// problem is a ``Code``: a struct whose cases can grow without breaking callers.
package struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of a configuration problem; compare with the static members (`.unknownKey`, ...).
    package struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case unreadable, syntax, emptyFile, unknownKey, duplicateKey, missingKey, wrongType
            case invalidValue, duplicateName, unknownReference
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The file could not be opened, read, or decoded as UTF-8.
        package static let unreadable = Code(.unreadable)
        /// The file is not well-formed YAML.
        package static let syntax = Code(.syntax)
        /// The file holds no document (empty, or only comments).
        package static let emptyFile = Code(.emptyFile)
        /// A key the schema does not know (often a misspelling; the message suggests the nearest one).
        package static let unknownKey = Code(.unknownKey)
        /// The same key appears twice in one mapping.
        package static let duplicateKey = Code(.duplicateKey)
        /// A required key is absent, or present with no value.
        package static let missingKey = Code(.missingKey)
        /// A value has the wrong shape: a list where a string is expected, and so on.
        package static let wrongType = Code(.wrongType)
        /// A value has the right shape but is not acceptable (bad duration, port out of range, ...).
        package static let invalidValue = Code(.invalidValue)
        /// A name that must be unique (a route's) is used twice.
        package static let duplicateName = Code(.duplicateName)
        /// A reference to something that is not defined (a route naming an unknown upstream).
        package static let unknownReference = Code(.unknownReference)

        /// The case name, for test output and logs.
        package var description: String { base.rawValue }
    }

    /// What kind of problem this is.
    package let code: Code
    /// Where the offending node is; `nil` only when the file could not be read at all.
    package let location: SourceLocation?
    /// The dotted key path of the offending node, e.g. `routes[1].match.path_prefix` (list indices
    /// are 0-based); empty for problems with the file as a whole.
    package let key: String
    /// What is wrong and, where possible, how to fix it.
    package let message: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The kind of problem.
    ///   - location: Where the offending node is, if known.
    ///   - key: The dotted key path, or empty.
    ///   - message: The operator-facing explanation.
    package init(code: Code, location: SourceLocation?, key: String, message: String) {
        self.code = code
        self.location = location
        self.key = key
        self.message = message
    }

    /// `file:line: key: message`; the parts that are unknown are left out.
    package var description: String {
        var text = ""
        if let location {
            text += "\(location): "
        }
        if !key.isEmpty {
            text += "\(key): "
        }
        return text + message
    }
}

/// Every problem found while loading one configuration file, in file order.
///
/// This is what ``ConfigLoader`` throws (typed throws), so callers never see an `any Error`.
/// It is never empty when thrown.
package struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problems, sorted by line, then column; file-level problems first.
    package let errors: [ConfigError]

    /// Wraps a list of problems.
    ///
    /// - Parameter errors: The problems, in the order they should be shown.
    package init(errors: [ConfigError]) {
        self.errors = errors
    }

    /// One problem per line, as `check-config` prints them.
    package var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
