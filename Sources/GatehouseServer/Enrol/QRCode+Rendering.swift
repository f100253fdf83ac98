/// Text renderings of a code. Every one but `matrixRows` includes the quiet zone (four light modules on each
/// side, section 6.3.8): without it a scanner cannot find the finders against the terminal's other text.
extension QRCode {
    /// Light modules around the symbol in every rendering.
    package static let quietZone = 4

    /// Whether the module at `row`, `column` of the symbol with its quiet zone is dark.
    private func darkWithQuietZone(_ row: Int, _ column: Int) -> Bool {
        let inner = (row - Self.quietZone, column - Self.quietZone)
        guard (0..<size).contains(inner.0), (0..<size).contains(inner.1) else { return false }
        return self[inner.0, inner.1]
    }

    private var fullSize: Int { size + 2 * Self.quietZone }

    /// Two module rows per line with the Unicode half blocks ▀ ▄ █ and space, one module per column: a
    /// terminal cell is about twice as tall as wide, so modules come out square. A glyph is a dark module unless
    /// `inverted` (for light text on a dark background, where the glyphs are the light part).
    package func halfBlockText(inverted: Bool = false) -> String {
        var lines: [String] = []
        for top in stride(from: 0, to: fullSize, by: 2) {
            var line = ""
            for column in 0..<fullSize {
                let upper = darkWithQuietZone(top, column) != inverted
                // An odd height leaves the last line's lower half in the quiet zone: light.
                let lower = (top + 1 < fullSize ? darkWithQuietZone(top + 1, column) : false) != inverted
                switch (upper, lower) {
                case (true, true): line += "█"
                case (true, false): line += "▀"
                case (false, true): line += "▄"
                case (false, false): line += " "
                }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One line per module row, `##` for a dark module and two spaces for a light one (or the reverse when
    /// `inverted`): for terminals and fonts without the block elements.
    package func asciiText(inverted: Bool = false) -> String {
        var text = ""
        for row in 0..<fullSize {
            for column in 0..<fullSize { text += darkWithQuietZone(row, column) != inverted ? "##" : "  " }
            text += "\n"
        }
        return text
    }

    /// The symbol as rows of `1` (dark) and `0` (light), no quiet zone: for comparing with another encoder.
    package func matrixRows() -> String {
        var text = ""
        for row in 0..<size {
            for column in 0..<size { text += self[row, column] ? "1" : "0" }
            text += "\n"
        }
        return text
    }

    /// A plain PBM image (P1: 1 is black) with the quiet zone, each module `scale` × `scale` pixels: for a
    /// decoder such as zbarimg, or to print.
    package func portableBitmap(scale: Int) -> String {
        let pixels = fullSize * scale
        var text = "P1\n\(pixels) \(pixels)\n"
        for row in 0..<fullSize {
            var line = ""
            for column in 0..<fullSize {
                let bit = darkWithQuietZone(row, column) ? "1" : "0"
                for _ in 0..<scale { line += bit }
            }
            // PBM lines should stay under 70 characters; whitespace between bits is optional.
            var wrapped = ""
            var index = line.startIndex
            while index < line.endIndex {
                let end = line.index(index, offsetBy: 64, limitedBy: line.endIndex) ?? line.endIndex
                wrapped += line[index..<end] + "\n"
                index = end
            }
            for _ in 0..<scale { text += wrapped }
        }
        return text
    }
}
