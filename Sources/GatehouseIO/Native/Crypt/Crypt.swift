import CCrypt
import Glibc

/// The libxcrypt calls password hashing needs, over Swift values: the only file that imports libcrypt.
///
/// Every `hash` takes tens to hundreds of milliseconds by design (bcrypt, yescrypt): call it from a
/// `BlockingPool` thread, never from an event loop. The formats and the policy (which schemes verify, the
/// 72-byte bcrypt rule) live in GatehouseSessions' `PasswordHash`; this layer only runs crypt(3).
package enum Crypt {
    /// libxcrypt's longest passphrase, NUL included (`CRYPT_MAX_PASSPHRASE_SIZE`).
    package static let maxPassphraseSize = Int(CRYPT_MAX_PASSPHRASE_SIZE)

    /// `crypt_rn(password, setting)`: the encoded hash, or nil when libcrypt refuses the setting.
    ///
    /// Uses a private, zeroed `crypt_data` on the heap (32 KiB: too big for a worker's stack to take lightly),
    /// wiped afterwards together with the copy of the password. `password` must not hold a NUL byte (crypt
    /// would stop there; the caller refuses such passwords).
    package static func hash(_ password: [UInt8], setting: String) -> String? {
        let dataSize = MemoryLayout<crypt_data>.size
        let data = UnsafeMutableRawPointer.allocate(
            byteCount: dataSize, alignment: MemoryLayout<crypt_data>.alignment)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: dataSize)
        let phrase = UnsafeMutablePointer<CChar>.allocate(capacity: password.count + 1)
        for index in password.indices {
            phrase[index] = CChar(bitPattern: password[index])
        }
        phrase[password.count] = 0
        defer {
            explicit_bzero(phrase, password.count + 1)
            phrase.deallocate()
            explicit_bzero(data, dataSize)
            data.deallocate()
        }
        guard let output = crypt_rn(phrase, setting, data, Int32(dataSize)) else { return nil }
        return String(cString: output)
    }

    /// `crypt_gensalt_rn(prefix, count)` with a fresh salt from the OS CSPRNG (nil random bytes make libxcrypt
    /// read it itself): a setting for `hash`, or why libcrypt made none.
    package static func gensalt(prefix: String, count: Int) -> Result<String, CryptError> {
        var buffer = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        let made = buffer.withUnsafeMutableBufferPointer { output in
            crypt_gensalt_rn(prefix, UInt(count), nil, 0, output.baseAddress, Int32(output.count)) != nil
        }
        guard made else { return .failure(CryptError(errno: errno)) }
        return .success(buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    /// The errno of the last failed call on this thread, for a message after `hash` returned nil.
    package static var lastError: CryptError { CryptError(errno: errno) }
}

/// A libcrypt failure: the errno it left.
package struct CryptError: Error, Sendable, Equatable, CustomStringConvertible {
    package let errno: Int32

    package var description: String { "errno \(errno)" }
}
