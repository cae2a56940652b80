internal import COpenSSL

/// 32 bytes of key material for AES-256-GCM, HMAC-SHA-256 and HKDF.
///
/// `description`, `debugDescription` and the reflection mirror never reveal the bytes, so a key
/// that ends up in a log line or a `dump` shows only its length.
public struct SymmetricKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The key length in bytes: AES-256 and a full SHA-256 block of entropy.
    public static let byteCount = 32

    /// The raw key bytes. Handle with care: never log or persist unwrapped.
    public let bytes: [UInt8]

    /// Wraps existing key material.
    /// - Throws: `CryptoError.invalidKeyMaterial` unless `bytes` holds exactly 32 bytes.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw CryptoError.invalidKeyMaterial("a symmetric key must be \(Self.byteCount) bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Used where the length is already guaranteed by construction.
    init(unchecked bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount, "SymmetricKey requires \(Self.byteCount) bytes")
        self.bytes = bytes
    }

    /// A fresh key from the OpenSSL CSPRNG.
    public static func random() -> SymmetricKey {
        SymmetricKey(unchecked: SecureRandom.bytes(byteCount))
    }

    /// Constant-time comparison (CRYPTO_memcmp), so comparing keys leaks no timing about their contents.
    public static func == (lhs: SymmetricKey, rhs: SymmetricKey) -> Bool {
        lhs.bytes.count == rhs.bytes.count && constantTimeEquals(lhs.bytes, rhs.bytes)
    }

    public var description: String { "SymmetricKey(\(bytes.count) bytes, redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
