/// Comparison of secrets (password hashes, bearer secrets) in time that depends only on the lengths, which are
/// public: fixed per format, or the configured secret's.
package enum ConstantTime {
    package static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }
}
