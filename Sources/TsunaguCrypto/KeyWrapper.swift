/// Envelope encryption: data keys (stored in the database) are wrapped by the master key.
///
/// Wrapping uses AES-256-GCM (the `AESGCM` sealed format) under a key-wrapping subkey derived
/// from the master key by HKDF, so the master key itself is never used directly as a cipher key
/// (NIST SP 800-57 Part 1 section 5.2). The associated data is "tsunagu.data-key/v1/" + id, so
/// a wrapped key stored under one id cannot be relabelled as another.
public struct KeyWrapper: Sendable {
    private let wrappingKey: SymmetricKey

    /// A wrapper for data keys under `master`.
    public init(master: MasterKey) {
        wrappingKey = master.subkey(info: MasterKey.keyWrappingInfo)
    }

    private static func associatedData(id: String) -> [UInt8] {
        Array(("tsunagu.data-key/v1/" + id).utf8)
    }

    /// Seals `key` for storage under `id`. 61 bytes: version, nonce, 32-byte ciphertext, tag.
    public func wrap(_ key: SymmetricKey, id: String) -> [UInt8] {
        key.withUnsafeBytes { AESGCM.seal(Array($0), key: wrappingKey, associatedData: Self.associatedData(id: id)) }
    }

    /// Recovers a data key wrapped by `wrap(_:id:)` with the same master key and id.
    /// - Throws: `authenticationFailed` with the wrong master key or id; `malformedCiphertext`
    ///   if the blob is truncated; `invalidKeyMaterial` if it does not hold a 32-byte key.
    public func unwrap(_ wrapped: [UInt8], id: String) throws -> SymmetricKey {
        let bytes = try AESGCM.open(wrapped, key: wrappingKey, associatedData: Self.associatedData(id: id))
        guard bytes.count == SymmetricKey.byteCount else {
            throw CryptoError.invalidKeyMaterial("a wrapped key must hold \(SymmetricKey.byteCount) bytes")
        }
        return SymmetricKey(unchecked: bytes)
    }
}
