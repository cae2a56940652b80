/// Field-level encryption for database columns (AES-256-GCM under data keys).
///
/// Holds every data key it may need to open (rotation keeps old keys) and seals with the current
/// one. The sealed blob names its data key:
///
///     0x01 || key-id length (1 byte) || key id (UTF-8) || nonce(12) || ciphertext || tag(16)
///
/// The associated data binds the blob to its place, "table/column/row", and to the key id, so a
/// ciphertext copied into another row, column or table, or relabelled with another key id, fails
/// to open. The place is length-prefixed rather than joined with "/" so that no two distinct
/// places encode alike (table "a/b", column "c" versus table "a", column "b/c").
public struct FieldCipher: Sendable {
    private let current: String
    private let keys: [String: SymmetricKey]

    static let version: UInt8 = 0x01

    /// - Parameters:
    ///   - currentKeyID: the id of the key new blobs are sealed with; must be a key of `keys`.
    ///   - keys: every data key that may be needed to open existing blobs, by id.
    /// - Throws: `invalidKeyMaterial` if the current id is absent or an id is not 1...255 UTF-8 bytes.
    public init(currentKeyID: String, keys: [String: SymmetricKey]) throws {
        guard keys[currentKeyID] != nil else {
            throw CryptoError.invalidKeyMaterial("the current data key id is not among the keys")
        }
        for id in keys.keys where id.utf8.isEmpty || id.utf8.count > Int(UInt8.max) {
            throw CryptoError.invalidKeyMaterial("data key ids must be 1 to 255 bytes of UTF-8")
        }
        current = currentKeyID
        self.keys = keys
    }

    /// The id of the data key used by `seal`.
    public var currentKeyID: String { current }

    /// Seals `plaintext` for the cell at `table`/`column`/`row` with the current data key.
    public func seal(_ plaintext: [UInt8], table: String, column: String, row: String) -> [UInt8] {
        let header = Self.header(keyID: current)
        let nonce = SecureRandom.bytes(AESGCM.nonceByteCount)
        let aad = Self.associatedData(header: header, table: table, column: column, row: row)
        let (ciphertext, tag) = AESGCM.sealRaw(plaintext, key: keys[current]!, nonce: nonce, associatedData: aad)
        return header + nonce + ciphertext + tag
    }

    /// Seals the UTF-8 encoding of `plaintext`.
    public func seal(_ plaintext: String, table: String, column: String, row: String) -> [UInt8] {
        seal(Array(plaintext.utf8), table: table, column: column, row: row)
    }

    /// Opens a blob sealed for exactly this `table`/`column`/`row`, with whichever held key it names.
    /// - Throws: `malformedCiphertext`, `unknownKey(id:)` or `authenticationFailed`.
    public func open(_ sealed: [UInt8], table: String, column: String, row: String) throws -> [UInt8] {
        guard sealed.count >= 2, sealed[0] == Self.version else { throw CryptoError.malformedCiphertext }
        let idLength = Int(sealed[1])
        let headerLength = 2 + idLength
        guard idLength > 0, sealed.count >= headerLength + AESGCM.nonceByteCount + AESGCM.tagByteCount else {
            throw CryptoError.malformedCiphertext
        }
        guard let id = String(validating: sealed[2 ..< headerLength], as: UTF8.self) else {
            throw CryptoError.malformedCiphertext
        }
        guard let key = keys[id] else { throw CryptoError.unknownKey(id: id) }

        let header = Array(sealed[..<headerLength])
        let nonceEnd = headerLength + AESGCM.nonceByteCount
        let tagStart = sealed.count - AESGCM.tagByteCount
        let aad = Self.associatedData(header: header, table: table, column: column, row: row)
        return try AESGCM.openRaw(Array(sealed[nonceEnd ..< tagStart]), tag: Array(sealed[tagStart...]),
                                  key: key, nonce: Array(sealed[headerLength ..< nonceEnd]),
                                  associatedData: aad)
    }

    /// Opens a blob and decodes it as UTF-8.
    /// - Throws: as `open`, and `malformedCiphertext` if the plaintext is not valid UTF-8.
    public func openString(_ sealed: [UInt8], table: String, column: String, row: String) throws -> String {
        let bytes = try open(sealed, table: table, column: column, row: row)
        guard let string = String(validating: bytes, as: UTF8.self) else { throw CryptoError.malformedCiphertext }
        return string
    }

    /// Every data key id this cipher holds.
    public var keyIDs: Set<String> { Set(keys.keys) }

    /// The id of the data key a blob was sealed with, read from its header, or nil if the blob is
    /// not in this format. Lets a key rotation find the rows still sealed with an old key.
    public static func keyID(of sealed: [UInt8]) -> String? {
        guard sealed.count >= 2, sealed[0] == version else { return nil }
        let end = 2 + Int(sealed[1])
        guard sealed[1] > 0, sealed.count >= end else { return nil }
        return String(validating: sealed[2 ..< end], as: UTF8.self)
    }

    // MARK: - Format

    private static func header(keyID: String) -> [UInt8] {
        let id = Array(keyID.utf8)
        return [version, UInt8(id.count)] + id
    }

    /// "tsunagu.field/v1" || header (version, key id) || len32(table) || table || len32(column)
    /// || column || len32(row) || row, lengths big-endian.
    static func associatedData(header: [UInt8], table: String, column: String, row: String) -> [UInt8] {
        var aad = Array("tsunagu.field/v1".utf8) + header
        for part in [table, column, row] {
            let bytes = Array(part.utf8)
            let length = UInt32(truncatingIfNeeded: bytes.count)
            aad += [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
            aad += bytes
        }
        return aad
    }
}
