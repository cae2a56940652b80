import Foundation

/// A deterministic HMAC-SHA-256 index, so e-mail addresses can be looked up by equality while
/// the addresses themselves are stored encrypted.
///
/// Keyed (unlike a plain hash) so that someone holding only the database cannot confirm a
/// guessed address. Use a dedicated key, e.g. `masterKey.derivedKey(purpose: "blind-index")`.
public struct BlindIndex: Sendable {
    private let key: SymmetricKey

    /// An index keyed by `key`.
    public init(key: SymmetricKey) {
        self.key = key
    }

    /// The 32-byte index of `email` after `normalize(email:)`.
    public func index(email: String) -> [UInt8] {
        HMAC.sha256(key: key, data: Array(Self.normalize(email: email).utf8))
    }

    /// Trims surrounding whitespace and lowercases (locale-independent), so that the forms a
    /// user may type for the same mailbox map to one index.
    public static func normalize(email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }
}
