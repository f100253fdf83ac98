/// Reads one PEM public key block and the outer structure of a DER `SubjectPublicKeyInfo` (RFC 5280 §4.1),
/// just far enough to choose the key type. The crypto library then parses the whole structure again and
/// validates it (RSA parameters, EC points on the curve).
///
/// Config-load code: clarity and precise errors matter more than speed here.
enum PEMKey {
    /// Which key type an SPKI names.
    enum KeyType: Equatable {
        /// rsaEncryption or id-RSASSA-PSS.
        case rsa
        /// id-ecPublicKey on P-256.
        case p256
        /// id-ecPublicKey on P-384.
        case p384
        /// id-ecPublicKey on P-521.
        case p521
        /// id-Ed25519, with its 32 raw key bytes.
        case ed25519([UInt8])
    }

    // OID contents (without tag and length).
    private static let rsaEncryption: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]
    private static let rsassaPSS: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A]
    private static let ecPublicKey: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]
    private static let curveP256: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
    private static let curveP384: [UInt8] = [0x2B, 0x81, 0x04, 0x00, 0x22]
    private static let curveP521: [UInt8] = [0x2B, 0x81, 0x04, 0x00, 0x23]
    private static let ed25519: [UInt8] = [0x2B, 0x65, 0x70]

    /// Extracts the label and DER bytes of the single PEM block in `text` (RFC 7468). Text before the block
    /// and whitespace after it are allowed; a second block, a mismatched END label or a bad body are not.
    ///
    /// - Throws: `KeyError` naming the problem.
    static func decode(_ text: String) throws(KeyError) -> (label: String, der: [UInt8]) {
        guard let begin = text.firstRange(of: "-----BEGIN ") else {
            throw KeyError("not a PEM document (no -----BEGIN line)")
        }
        let afterBegin = text[begin.upperBound...]
        guard let labelEnd = afterBegin.firstRange(of: "-----") else { throw KeyError("PEM BEGIN line is not closed") }
        let label = String(afterBegin[..<labelEnd.lowerBound])
        let rest = afterBegin[labelEnd.upperBound...]
        guard let end = rest.firstRange(of: "-----END " + label + "-----") else {
            throw KeyError("PEM block '\(label)' has no matching END line")
        }
        let trailer = rest[end.upperBound...]
        guard trailer.allSatisfy({ $0.isWhitespace }) else { throw KeyError("unexpected text after the PEM block") }
        guard let der = Base64URL.decodePEMBody(rest[..<end.lowerBound].utf8) else {
            throw KeyError("PEM body of '\(label)' is not valid base64 (or carries encryption headers)")
        }
        return (label, der)
    }

    /// Reads an SPKI's algorithm identifier and, for Ed25519, the key bytes.
    ///
    /// - Parameter der: a DER `SubjectPublicKeyInfo`.
    /// - Returns: the key type.
    /// - Throws: `KeyError` for a malformed structure or an algorithm that cannot sign JWS.
    static func spkiKeyType(_ der: [UInt8]) throws(KeyError) -> KeyType {
        var outer = DERReader(der[...])
        var spki = DERReader(try outer.read(tag: 0x30))
        guard outer.isAtEnd else { throw KeyError("trailing bytes after SubjectPublicKeyInfo") }
        var algorithm = DERReader(try spki.read(tag: 0x30))
        let oid = Array(try algorithm.read(tag: 0x06))
        let bitString = try spki.read(tag: 0x03)
        guard spki.isAtEnd else { throw KeyError("trailing bytes inside SubjectPublicKeyInfo") }
        switch oid {
        case rsaEncryption, rsassaPSS:
            return .rsa
        case ecPublicKey:
            switch Array(try algorithm.read(tag: 0x06)) {
            case curveP256: return .p256
            case curveP384: return .p384
            case curveP521: return .p521
            default: throw KeyError("EC key on an unsupported curve (P-256, P-384 and P-521 are supported)")
            }
        case ed25519:
            guard algorithm.isAtEnd, bitString.count == 33, bitString.first == 0 else {
                throw KeyError("malformed Ed25519 SubjectPublicKeyInfo")
            }
            return .ed25519(Array(bitString.dropFirst()))
        default:
            throw KeyError("unsupported public key algorithm (RSA, EC P-256/384/521 and Ed25519 are supported)")
        }
    }
}

/// A minimal DER reader: definite lengths up to 0xFFFF, enough for any public key we accept.
struct DERReader {
    private var bytes: ArraySlice<UInt8>

    /// Starts reading at the first byte of `bytes`.
    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
    }

    /// Whether every byte has been read.
    var isAtEnd: Bool { bytes.isEmpty }

    /// Reads one element with the given tag and returns its contents.
    mutating func read(tag: UInt8) throws(KeyError) -> ArraySlice<UInt8> {
        guard bytes.count >= 2, bytes.first == tag else { throw KeyError("malformed DER key structure") }
        var cursor = bytes.startIndex + 1
        var length = Int(bytes[cursor])
        cursor += 1
        switch length {
        case 0..<0x80:
            break
        case 0x81, 0x82:
            let lengthBytes = length - 0x80
            guard bytes.endIndex - cursor >= lengthBytes else { throw KeyError("truncated DER length") }
            length = 0
            for _ in 0..<lengthBytes {
                length = length << 8 | Int(bytes[cursor])
                cursor += 1
            }
        default:
            throw KeyError("unsupported DER length form")
        }
        guard bytes.endIndex - cursor >= length else { throw KeyError("truncated DER element") }
        let contents = bytes[cursor..<cursor + length]
        bytes = bytes[(cursor + length)...]
        return contents
    }
}
