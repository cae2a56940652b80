import Foundation
import GRDB
import Synchronization
import TsunaguCrypto

/// The data keys one process holds, and which of them seals new values.
///
/// A data-key rotation (`HubStore.beginDataKeyRotation`) is made by one process while others keep
/// serving; they notice in two ways. Opening a value sealed with a key id this ring does not hold
/// reloads the key set from the store at once (`open`), and `HubStore` re-reads which key is
/// current every `HubStore.keyRefreshInterval`, so new writes move to the new key within that
/// interval. Retired keys are dropped from the ring (their bytes are cleansed when released).
///
/// The ring unwraps with the master key this process started with: after a master-key rotation a
/// running process still holds every key it had, but cannot unwrap keys made later; such keys are
/// skipped until the process is restarted with the new key file (docs/security.md).
final class KeyRing: Sendable {
    private struct Held {
        var cipher: FieldCipher
        var keys: [String: SymmetricKey]
    }

    /// One row of `data_keys`.
    struct StoredKey: Sendable {
        var id: String
        var wrapped: Data
        var isCurrent: Bool
        var retired: Bool
    }

    private let held: Mutex<Held>
    private let wrapper: KeyWrapper
    /// Reads `data_keys` afresh, outside any transaction the caller may be in (see `reloadFromDatabase`).
    private let loadStoredKeys: @Sendable () throws -> [StoredKey]

    /// - Throws: `StoreError.masterKeyMismatch` when `wrapper` opens none of the active keys, or
    ///   not the current one.
    init(rows: [StoredKey], wrapper: KeyWrapper, loadStoredKeys: @escaping @Sendable () throws -> [StoredKey]) throws {
        self.wrapper = wrapper
        self.loadStoredKeys = loadStoredKeys
        var keys: [String: SymmetricKey] = [:]
        for row in rows where !row.retired {
            do {
                keys[row.id] = try wrapper.unwrap([UInt8](row.wrapped), id: row.id)
            } catch {
                throw StoreError.masterKeyMismatch
            }
        }
        guard let current = rows.first(where: { $0.isCurrent && !$0.retired }) else {
            throw StoreError.corrupt("data_keys has no current key")
        }
        held = Mutex(Held(cipher: try FieldCipher(currentKeyID: current.id, keys: keys), keys: keys))
    }

    var cipher: FieldCipher { held.withLock { $0.cipher } }
    /// Wraps new data keys under this process's master key (a rotation made by this process).
    var wrapperForRotation: KeyWrapper { wrapper }
    var currentKeyID: String { cipher.currentKeyID }

    func seal(_ plaintext: [UInt8], table: String, column: String, row: String) -> [UInt8] {
        cipher.seal(plaintext, table: table, column: column, row: row)
    }

    func seal(_ plaintext: String, table: String, column: String, row: String) -> [UInt8] {
        cipher.seal(plaintext, table: table, column: column, row: row)
    }

    /// Opens with whichever held key the blob names; a key id not held means another process
    /// rotated the data key, so the key set is reloaded once and the open retried.
    func open(_ sealed: [UInt8], table: String, column: String, row: String) throws -> [UInt8] {
        do {
            return try cipher.open(sealed, table: table, column: column, row: row)
        } catch CryptoError.unknownKey {
            try reloadFromDatabase()
            return try cipher.open(sealed, table: table, column: column, row: row)
        }
    }

    func openString(_ sealed: [UInt8], table: String, column: String, row: String) throws -> String {
        let bytes = try open(sealed, table: table, column: column, row: row)
        guard let string = String(validating: bytes, as: UTF8.self) else { throw CryptoError.malformedCiphertext }
        return string
    }

    /// Brings the ring in line with `rows`: unwraps keys it lacks, drops retired ones and switches
    /// the current key. A key this process's master key cannot unwrap is left out; if that is the
    /// new current key, the ring keeps sealing with its previous one (still readable by all).
    /// Answers whether anything changed.
    @discardableResult
    func apply(_ rows: [StoredKey]) -> Bool {
        let heldIDs = held.withLock { Set($0.keys.keys) }
        var unwrapped: [String: SymmetricKey] = [:]
        for row in rows where !row.retired && !heldIDs.contains(row.id) {
            if let key = try? wrapper.unwrap([UInt8](row.wrapped), id: row.id) { unwrapped[row.id] = key }
        }
        return held.withLock { held in
            var keys = held.keys.merging(unwrapped) { old, _ in old }
            for row in rows where row.retired { keys[row.id] = nil }
            let wanted = rows.first(where: { $0.isCurrent && !$0.retired })?.id
            let current = wanted.flatMap { keys[$0] != nil ? $0 : nil } ?? held.cipher.currentKeyID
            guard keys[current] != nil else { return false }
            guard Set(keys.keys) != Set(held.keys.keys) || current != held.cipher.currentKeyID else { return false }
            guard let cipher = try? FieldCipher(currentKeyID: current, keys: keys) else { return false }
            held = Held(cipher: cipher, keys: keys)
            return true
        }
    }

    /// Re-reads `data_keys` through a connection of its own (HubStore.loadKeySet): callers may be
    /// inside one of the store's transactions, which must not be re-entered.
    func reloadFromDatabase() throws {
        apply(try loadStoredKeys())
    }

    static func storedKeys(_ db: Database) throws -> [StoredKey] {
        try Row.fetchAll(db, sql: "SELECT id, wrapped, is_current, retired_at FROM data_keys").map {
            StoredKey(id: $0["id"], wrapped: $0["wrapped"], isCurrent: $0["is_current"] as Int64 == 1,
                      retired: ($0["retired_at"] as Int64?) != nil)
        }
    }
}
