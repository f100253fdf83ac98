/// Why an I/O set-up step failed (binding, creating a loop, resolving an address).
///
/// A struct with a reason string: these errors happen at start-up or reload, are printed to an operator,
/// and never sit on the request path.
package struct IOError: Error, Sendable, CustomStringConvertible {
    package let message: String

    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}
