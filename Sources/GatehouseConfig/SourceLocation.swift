/// A position in a configuration file, as shown to the operator in error messages.
///
/// Lines and columns are 1-based, as editors count them; columns count Unicode scalars
/// (libyaml's unit). A route keeps the location of its entry so that later stages
/// (`check-config`, `explain`, route-table conflicts) can point back at the file.
package struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The path of the file, as it was given to the loader.
    package let file: String
    /// The 1-based line number.
    package let line: Int
    /// The 1-based column number.
    package let column: Int

    /// Creates a location.
    ///
    /// - Parameters:
    ///   - file: The path of the file, as given to the loader.
    ///   - line: The 1-based line.
    ///   - column: The 1-based column.
    package init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line`, the prefix of every error message (the column is kept for tools, not printed).
    package var description: String { "\(file):\(line)" }
}
