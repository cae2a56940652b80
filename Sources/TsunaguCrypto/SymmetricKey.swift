internal import COpenSSL

/// 32 bytes of key material for AES-256-GCM, HMAC-SHA-256 and HKDF.
///
/// The bytes live in one heap buffer (`KeyBytes`) that copies of the value share and that is
/// zeroed when the last copy is dropped, so a dropped key leaves nothing in freed memory. The
/// cryptographic primitives of this module read it in place (`withUnsafeBytes`); `bytes` makes
/// an ordinary array copy for callers outside it, which is theirs to keep short-lived.
///
/// `description`, `debugDescription` and the reflection mirror never reveal the bytes, so a key
/// that ends up in a log line or a `dump` shows only its length.
public struct SymmetricKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The key length in bytes: AES-256 and a full SHA-256 block of entropy.
    public static let byteCount = 32

    let storage: KeyBytes

    /// A copy of the raw key bytes. Handle with care: never log or persist unwrapped, and prefer
    /// the module's primitives, which read the key in place without copying it.
    public var bytes: [UInt8] { storage.withUnsafeBytes { Array($0) } }

    /// Wraps existing key material.
    /// - Throws: `CryptoError.invalidKeyMaterial` unless `bytes` holds exactly 32 bytes.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw CryptoError.invalidKeyMaterial("a symmetric key must be \(Self.byteCount) bytes, got \(bytes.count)")
        }
        storage = KeyBytes(copying: bytes)
    }

    /// Used where the length is already guaranteed by construction. Cleanses `bytes` after
    /// copying, so the temporary array that produced the key keeps nothing of it.
    init(unchecked bytes: consuming [UInt8]) {
        var owned = bytes  // moved, not copied: when the caller passed a temporary, this is its buffer
        precondition(owned.count == Self.byteCount, "SymmetricKey requires \(Self.byteCount) bytes")
        storage = KeyBytes(copying: owned)
        owned.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
    }

    /// A fresh key from the OpenSSL CSPRNG.
    public static func random() -> SymmetricKey {
        SymmetricKey(unchecked: SecureRandom.bytes(byteCount))
    }

    /// Reads the key in place; `body` must not let the pointer escape.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(body)
    }

    /// Reads the key in place as a typed pointer and its count, for OpenSSL calls.
    func withKeyPointer<R>(_ body: (UnsafePointer<UInt8>, Int) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { raw in
            try body(raw.bindMemory(to: UInt8.self).baseAddress!, raw.count)
        }
    }

    /// Constant-time comparison (CRYPTO_memcmp), so comparing keys leaks no timing about their contents.
    public static func == (lhs: SymmetricKey, rhs: SymmetricKey) -> Bool {
        lhs.withKeyPointer { a, n in
            rhs.withKeyPointer { b, m in n == m && CRYPTO_memcmp(a, b, n) == 0 }
        }
    }

    public var description: String { "SymmetricKey(\(storage.count) bytes, redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
