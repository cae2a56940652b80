import Foundation
import GRDB
import TsunaguCrypto

/// Where the store's keys come from (docs/security.md, "Key hierarchy"):
///
/// - data keys (`data_keys`) seal fields; random, wrapped by the master key;
/// - stored secrets (`key_secrets`) key the blind index, the audit chain and peer links; wrapped
///   by the master key, so a master-key rotation rewraps them and they keep their values.
///
/// The master key itself is never stored.
extension HubStore {
    /// The purposes of the stored secrets. A purpose missing from a store is added when the store
    /// is opened (see `loadKeySet`); a new purpose needs only a new entry here.
    static let storedSecretPurposes = ["blind-index", "audit-chain", "audit-anchor", "peer-link"]

    /// The wrap id of a stored secret: outside the "dk_" namespace of data keys, so a wrapped
    /// secret cannot be relabelled as a data key or the other way round.
    static func secretWrapID(_ purpose: String) -> String { "secret/" + purpose }

    /// Loads the data keys and the stored secrets, creating what is missing in one transaction:
    /// on a new store a first data key and random secrets; on a store from before the secrets were
    /// stored, the values this store's master key derives for them (`MasterKey.derivedKey`), which
    /// are the values its blind indexes and audit chain were made with.
    static func loadKeySet(_ backend: StoreBackend, masterKey: MasterKey) throws
        -> (ring: KeyRing, secrets: [String: SymmetricKey])
    {
        let wrapper = KeyWrapper(master: masterKey)
        let body = { (db: Database) throws -> ([KeyRing.StoredKey], [String: Data]) in
            // Several nodes may open a new store at once: one of them creates the first key.
            try db.dialect.serialize(db, .identity)
            var keys = try KeyRing.storedKeys(db)
            let isNewStore = keys.isEmpty
            let now = nowMillis()
            if isNewStore {
                let id = newDataKeyID()
                let wrapped = Data(wrapper.wrap(SymmetricKey.random(), id: id))
                try db.execute(
                    sql: "INSERT INTO data_keys (id, wrapped, is_current, created_at) VALUES (?, ?, 1, ?)",
                    arguments: [id, wrapped, now])
                keys = [KeyRing.StoredKey(id: id, wrapped: wrapped, isCurrent: true, retired: false)]
            }
            var secrets: [String: Data] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT purpose, wrapped FROM key_secrets") {
                secrets[row["purpose"]] = row["wrapped"]
            }
            for purpose in storedSecretPurposes where secrets[purpose] == nil {
                let value = isNewStore ? SymmetricKey.random() : masterKey.derivedKey(purpose: purpose)
                let wrapped = Data(wrapper.wrap(value, id: secretWrapID(purpose)))
                try db.execute(sql: """
                    INSERT INTO key_secrets (purpose, wrapped, created_at) VALUES (?, ?, ?)
                    ON CONFLICT (purpose) DO NOTHING
                    """, arguments: [purpose, wrapped, now])
                secrets[purpose] = wrapped
            }
            return (keys, secrets)
        }
        let (keyRows, secretRows) = try backend.write(body)
        var secrets: [String: SymmetricKey] = [:]
        for (purpose, wrapped) in secretRows {
            do {
                secrets[purpose] = try wrapper.unwrap([UInt8](wrapped), id: secretWrapID(purpose))
            } catch {
                throw StoreError.masterKeyMismatch
            }
        }
        let ring = try KeyRing(rows: keyRows, wrapper: wrapper, loadStoredKeys: storedKeysReader(backend))
        return (ring, secrets)
    }

    /// Reads `data_keys` on a connection of its own, never one the caller may hold in a
    /// transaction: a fresh SQLite connection to the file, or a PostgreSQL read transaction.
    static func storedKeysReader(_ backend: StoreBackend) -> @Sendable () throws -> [KeyRing.StoredKey] {
        switch backend {
        case .sqlite(let pool):
            let path = pool.path
            return {
                var configuration = Configuration()
                configuration.busyMode = .timeout(5)
                let connection = try DatabaseQueue(path: path, configuration: configuration)
                defer { try? connection.close() }
                return try connection.read { try KeyRing.storedKeys(SQLiteExecutor($0)) }
            }
        case .postgres(let postgres):
            return { try postgres.transaction(.read) { try KeyRing.storedKeys($0) } }
        }
    }

    static func newDataKeyID() -> String { "dk_" + UUID().uuidString.lowercased().prefix(8) }
}
