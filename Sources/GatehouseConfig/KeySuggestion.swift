/// Finds the valid name nearest to a misspelt one, for "did you mean ...?" hints.
///
/// Uses the optimal-string-alignment distance (Levenshtein plus adjacent transpositions, so
/// `lsiten` is one edit from `listen`), compared case-insensitively. A candidate is offered
/// only if it is close for the typed name's length (1 edit up to 4 characters, 2 up to 8, 3
/// beyond, so `trusted_proxy` still finds `trusted_proxies`) and fewer edits than the typed
/// name is long, so that short garbage (`x`) does not get a random suggestion.
enum KeySuggestion {
    /// The closest candidate, or `nil` if none is close enough.
    ///
    /// - Parameters:
    ///   - typed: The name found in the file.
    ///   - candidates: The names that would have been valid; ties go to the earliest.
    /// - Returns: The suggestion, if any.
    static func nearest(to typed: String, among candidates: [String]) -> String? {
        let source = Array(typed.lowercased())
        let limit = source.count <= 4 ? 1 : (source.count <= 8 ? 2 : 3)
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(source, Array(candidate.lowercased()))
            if distance <= limit && distance < source.count && distance < (best?.distance ?? Int.max) {
                best = (candidate, distance)
            }
        }
        return best?.name
    }

    /// Optimal-string-alignment distance between two character arrays.
    static func editDistance(_ lhs: [Character], _ rhs: [Character]) -> Int {
        if lhs.isEmpty { return rhs.count }
        if rhs.isEmpty { return lhs.count }
        // rows[i][j]: distance between lhs[..<i] and rhs[..<j]; three rolling rows suffice.
        var beforePrevious = [Int](repeating: 0, count: rhs.count + 1)
        var previous = Array(0...rhs.count)
        var current = [Int](repeating: 0, count: rhs.count + 1)
        for i in 1...lhs.count {
            current[0] = i
            for j in 1...rhs.count {
                let cost = lhs[i - 1] == rhs[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1 && j > 1 && lhs[i - 1] == rhs[j - 2] && lhs[i - 2] == rhs[j - 1] {
                    value = min(value, beforePrevious[j - 2] + 1)
                }
                current[j] = value
            }
            (beforePrevious, previous, current) = (previous, current, beforePrevious)
        }
        return previous[rhs.count]
    }
}
