import Foundation
import GRDB
import TsunaguCrypto

/// Data-key and master-key rotation (docs/security.md, "Rotating keys").
///
/// A data-key rotation makes a new data key current at once (every process notices: see
/// `KeyRing`), then re-encrypts existing values to it in small batches, each its own short write
/// transaction, so nodes keep serving. Its state lives in `key_rotation` (table, cursor, counts),
/// so a crashed run resumes where it stopped. A pass walks every sealed table once; the old keys
/// are retired (their wrapped bytes deleted) only after a whole pass that began at least
/// `rotationGracePeriodMillis` after the rotation found no value still sealed with them: by then
/// every running process seals with the new key, so none can write an old-key value afterwards.
///
/// Audit-log details are special: the audit chain commits to their original ciphertext, so that
/// stays as it is (and keeps verifying) while the value re-sealed under the new key goes to
/// `audit_log.details_resealed`, which readers prefer. Once the old key is retired the original
/// can no longer be opened, only verified.
extension HubStore {
    /// A table with sealed columns, walked in primary-key order by a rotation pass.
    struct SealedTable: Sendable {
        enum Key: Sendable { case textID, timelineSeq, integerSeq }

        var name: String
        var key: Key
        var columns: [String]
        /// Where a column's re-sealed value goes when the original must stay (see above).
        var resealedInto: [String: String] = [:]

        var keyColumns: [String] {
            switch key {
            case .textID: ["id"]
            case .timelineSeq: ["timeline_id", "seq"]
            case .integerSeq: ["seq"]
            }
        }

        /// The `row` part of the associated data its values were sealed with.
        func rowName(_ row: Row) -> String {
            switch key {
            case .textID: row["id"]
            case .timelineSeq: "\(row["timeline_id"] as String)/\(row["seq"] as Int64)"
            case .integerSeq: String(row["seq"] as Int64)
            }
        }

        /// The value a reader opens: the re-sealed one where there is one.
        func currentValue(_ row: Row, _ column: String) -> Data? {
            if let resealed = resealedInto[column], let value = row[resealed] as Data? { return value }
            return row[column]
        }
    }

    /// Every sealed column. A new sealed column must be added here: a rotation neither moves nor
    /// counts a column missing from this list, so it would retire the key its values need.
    static let sealedTables: [SealedTable] = [
        SealedTable(name: "organizations", key: .textID, columns: ["name"]),
        SealedTable(name: "users", key: .textID, columns: ["email", "name"]),
        SealedTable(name: "timelines", key: .textID, columns: ["title"]),
        SealedTable(name: "events", key: .timelineSeq, columns: ["payload"]),
        SealedTable(name: "outbox", key: .textID, columns: ["recipient", "subject", "body"]),
        SealedTable(name: "audit_log", key: .integerSeq, columns: ["details"],
                    resealedInto: ["details": "details_resealed"]),
    ]

    /// How long after a rotation starts the old keys may be retired: several key refresh
    /// intervals, so every running process seals with the new key by then.
    static let rotationGracePeriodMillis: Int64 = 5_000

    // MARK: - Data-key rotation

    /// Key changes (starting a rotation, a batch that may retire keys, a master-key rewrap) take
    /// turns: on PostgreSQL each first locks `data_keys` against the others (a mode that only
    /// these writers take, so the nodes' reads of the key set go on); each then reads what the
    /// one before it committed. Without it two rotations started at once both made their key
    /// current, and a rewrap could miss a key made meanwhile or restore a retired one. SQLite's
    /// write lock already orders them.
    static func lockKeys(_ db: Database) throws {
        guard db.dialect == .postgres else { return }
        try db.execute(sql: "LOCK TABLE data_keys IN SHARE ROW EXCLUSIVE MODE")
    }

    /// Makes a new data key current, or answers the one of a rotation already under way (which is
    /// then resumed rather than started again).
    public func beginDataKeyRotation() async throws -> (keyID: String, resumed: Bool) {
        let wrapper = cipher.wrapperForRotation
        let started: (String, Bool) = try await writeImmediate { db in
            try Self.lockKeys(db)
            if let open = try String.fetchOne(db, sql: "SELECT target_key FROM key_rotation WHERE finished_at IS NULL") {
                return (open, true)
            }
            // A process whose master key was rotated away since it started would wrap the new
            // key under the old master key, which no restarted node can open.
            if let current = try Row.fetchOne(db, sql: "SELECT id, wrapped FROM data_keys WHERE is_current = 1"),
               (try? wrapper.unwrap([UInt8](current["wrapped"] as Data), id: current["id"])) == nil {
                throw StoreError.masterKeyMismatch
            }
            let id = Self.newDataKeyID()
            let now = Self.nowMillis()
            try db.execute(sql: "UPDATE data_keys SET is_current = 0 WHERE is_current = 1")
            try db.execute(sql: "INSERT INTO data_keys (id, wrapped, is_current, created_at) VALUES (?, ?, 1, ?)",
                           arguments: [id, Data(wrapper.wrap(SymmetricKey.random(), id: id)), now])
            try db.execute(sql: """
                INSERT INTO key_rotation (target_key, started_at, pass, pass_started_at, table_name)
                VALUES (?, ?, 1, ?, ?)
                """, arguments: [id, now, now, Self.sealedTables[0].name])
            return (id, false)
        }
        try await refreshDataKeys()
        return started
    }

    /// What one call of `continueDataKeyRotation` did.
    public enum RotationStep: Sendable, Equatable {
        /// Re-encrypted `moved` rows of `table` (0 when the batch found none on an old key).
        case batch(table: String, moved: Int, totalMoved: Int64, pass: Int64)
        /// A pass is complete; the next may start only at `untilMillis` (the grace period).
        case waiting(untilMillis: Int64)
        /// Done: the `retired` keys lost their key material.
        case finished(retired: [String])
    }

    /// Runs one batch of the rotation under way (at most `batchSize` rows, one transaction).
    /// - Throws: `StoreError.notFound` when no rotation is under way; `masterKeyMismatch` when
    ///   this process's master key cannot unwrap the new key.
    public func continueDataKeyRotation(batchSize: Int = 200) async throws -> RotationStep {
        try await writeImmediate { [self] db in
            // On PostgreSQL two rotators, and a rotator and a rewrap, take turns here (the batch
            // retires keys at its end).
            try Self.lockKeys(db)
            guard let state = try Row.fetchOne(db, sql: "SELECT * FROM key_rotation WHERE finished_at IS NULL"
                                                   + db.dialect.forUpdate) else {
                throw StoreError.notFound("no data-key rotation is under way")
            }
            let target: String = state["target_key"]
            if cipher.currentKeyID != target { cipher.apply(try KeyRing.storedKeys(db)) }
            guard cipher.currentKeyID == target else { throw StoreError.masterKeyMismatch }
            let now = Self.nowMillis()
            let startedAt: Int64 = state["started_at"], pass: Int64 = state["pass"]
            let tableName: String = state["table_name"]

            if tableName.isEmpty {  // the last pass is complete
                let passStarted: Int64 = state["pass_started_at"], passMoved: Int64 = state["pass_moved"]
                if passMoved == 0 && passStarted >= startedAt + Self.rotationGracePeriodMillis {
                    return try retireOldKeys(db, target: target, now: now)
                }
                guard now >= startedAt + Self.rotationGracePeriodMillis else {
                    return .waiting(untilMillis: startedAt + Self.rotationGracePeriodMillis)
                }
                try db.execute(sql: """
                    UPDATE key_rotation SET pass = pass + 1, pass_started_at = ?, pass_moved = 0, table_name = ?,
                        cursor_text = '', cursor_seq = 0 WHERE target_key = ?
                    """, arguments: [now, Self.sealedTables[0].name, target])
                return .batch(table: Self.sealedTables[0].name, moved: 0, totalMoved: state["moved"], pass: pass + 1)
            }

            guard let index = Self.sealedTables.firstIndex(where: { $0.name == tableName }) else {
                throw StoreError.corrupt("key_rotation names an unknown table")
            }
            let table = Self.sealedTables[index]
            let rows = try Self.batch(db, table, afterText: state["cursor_text"], afterSeq: state["cursor_seq"],
                                      limit: batchSize)
            var moved = 0
            for row in rows {
                let rowName = table.rowName(row)
                var assignments: [String] = [], values: [(any DatabaseValueConvertible)?] = []
                for column in table.columns {
                    guard let blob = table.currentValue(row, column), FieldCipher.keyID(of: [UInt8](blob)) != target
                    else { continue }
                    let plaintext = try cipher.open([UInt8](blob), table: table.name, column: column, row: rowName)
                    assignments.append("\(table.resealedInto[column] ?? column) = ?")
                    values.append(Data(cipher.seal(plaintext, table: table.name, column: column, row: rowName)))
                }
                guard !assignments.isEmpty else { continue }
                for column in table.keyColumns { values.append(row[column] as DatabaseValue) }
                let match = table.keyColumns.map { "\($0) = ?" }.joined(separator: " AND ")
                try db.execute(sql: "UPDATE \(table.name) SET \(assignments.joined(separator: ", ")) WHERE \(match)",
                               arguments: SQLArguments(values: values.map { $0?.databaseValue ?? .null }))
                moved += 1
            }
            // Advance: past the last row read, or to the next table when this one is exhausted.
            if rows.count == batchSize, let last = rows.last {
                let cursorText: String = table.key == .textID ? last["id"] : table.key == .timelineSeq ? last["timeline_id"] : ""
                let cursorSeq: Int64 = table.key == .textID ? 0 : last["seq"]
                try db.execute(sql: """
                    UPDATE key_rotation SET cursor_text = ?, cursor_seq = ?, moved = moved + ?, pass_moved = pass_moved + ?
                    WHERE target_key = ?
                    """, arguments: [cursorText, cursorSeq, moved, moved, target])
            } else {
                let next = index + 1 < Self.sealedTables.count ? Self.sealedTables[index + 1].name : ""
                try db.execute(sql: """
                    UPDATE key_rotation SET table_name = ?, cursor_text = '', cursor_seq = 0, moved = moved + ?,
                        pass_moved = pass_moved + ? WHERE target_key = ?
                    """, arguments: [next, moved, moved, target])
            }
            let total: Int64 = state["moved"]
            return .batch(table: table.name, moved: moved, totalMoved: total + Int64(moved), pass: pass)
        }
    }

    /// The batch's rows, locked until its commit: on PostgreSQL a node may write the same row
    /// meanwhile (READ COMMITTED), and re-sealing a value read before that write would undo it.
    /// `FOR UPDATE` waits for such a writer and reads its value (SQLite's write lock already
    /// keeps writers out of the batch).
    private static func batch(_ db: Database, _ table: SealedTable, afterText: String, afterSeq: Int64, limit: Int)
        throws -> [Row]
    {
        let columns = (table.keyColumns + table.columns + table.resealedInto.values.sorted()).joined(separator: ", ")
        let lock = db.dialect.forUpdate
        switch table.key {
        case .textID:
            return try Row.fetchAll(db, sql: "SELECT \(columns) FROM \(table.name) WHERE id > ? ORDER BY id LIMIT ?" + lock,
                                    arguments: [afterText, limit])
        case .integerSeq:
            return try Row.fetchAll(db, sql: "SELECT \(columns) FROM \(table.name) WHERE seq > ? ORDER BY seq LIMIT ?" + lock,
                                    arguments: [afterSeq, limit])
        case .timelineSeq:
            return try Row.fetchAll(db, sql: """
                SELECT \(columns) FROM \(table.name)
                WHERE timeline_id > ? OR (timeline_id = ? AND seq > ?) ORDER BY timeline_id, seq LIMIT ?
                """ + lock, arguments: [afterText, afterText, afterSeq, limit])
        }
    }

    /// Retires every old key (deletes its wrapped bytes) and ends the rotation.
    private func retireOldKeys(_ db: Database, target: String, now: Int64) throws -> RotationStep {
        let retired = try String.fetchAll(db, sql: "SELECT id FROM data_keys WHERE retired_at IS NULL AND id <> ? ORDER BY id",
                                          arguments: [target])
        for id in retired {
            try db.execute(sql: "UPDATE data_keys SET wrapped = ?, retired_at = ? WHERE id = ?", arguments: [Data(), now, id])
        }
        try db.execute(sql: "UPDATE key_rotation SET finished_at = ? WHERE target_key = ?", arguments: [now, target])
        cipher.apply(try KeyRing.storedKeys(db))
        return .finished(retired: retired)
    }

    // MARK: - Status

    public struct DataKeyStatus: Sendable {
        public var id: String
        public var createdAtMillis: Int64
        public var isCurrent: Bool
        public var retiredAtMillis: Int64?
        /// Values (as readers open them) sealed with this key.
        public var values: Int
    }

    public struct RotationStatus: Sendable {
        public var targetKey: String
        public var startedAtMillis: Int64
        public var pass: Int64
        /// The table the pass is in, or nil between passes.
        public var table: String?
        public var moved: Int64
        public var finishedAtMillis: Int64?
    }

    public struct KeyStatus: Sendable {
        public var dataKeys: [DataKeyStatus]
        /// The latest rotation (under way or finished), if any.
        public var rotation: RotationStatus?
        public var storedSecrets: [String]
    }

    /// The data keys with how many values each seals (a scan of every sealed column), the latest
    /// rotation, and the stored secrets' purposes.
    public func keyStatus() async throws -> KeyStatus {
        try await read { db in
            var values: [String: Int] = [:]
            for table in Self.sealedTables {
                let columns = (table.columns + table.resealedInto.values.sorted()).joined(separator: ", ")
                for row in try Row.fetchAll(db, sql: "SELECT \(columns) FROM \(table.name)") {
                    for column in table.columns {
                        if let blob = table.currentValue(row, column), let id = FieldCipher.keyID(of: [UInt8](blob)) {
                            values[id, default: 0] += 1
                        }
                    }
                }
            }
            let keys = try Row.fetchAll(db, sql: "SELECT id, created_at, is_current, retired_at FROM data_keys ORDER BY created_at, id")
                .map { row in
                    let id: String = row["id"]
                    return DataKeyStatus(id: id, createdAtMillis: row["created_at"], isCurrent: row["is_current"] as Int64 == 1,
                                         retiredAtMillis: row["retired_at"], values: values[id] ?? 0)
                }
            let rotation = try Row.fetchOne(db, sql: "SELECT * FROM key_rotation ORDER BY started_at DESC LIMIT 1").map { row in
                let table: String = row["table_name"]
                return RotationStatus(targetKey: row["target_key"], startedAtMillis: row["started_at"], pass: row["pass"],
                                      table: table.isEmpty ? nil : table, moved: row["moved"],
                                      finishedAtMillis: row["finished_at"])
            }
            let secrets = try String.fetchAll(db, sql: "SELECT purpose FROM key_secrets ORDER BY purpose")
            return KeyStatus(dataKeys: keys, rotation: rotation, storedSecrets: secrets)
        }
    }

    // MARK: - Master-key rotation

    /// Rewraps every data key still in use and every stored secret from `old` to `new`, in one
    /// transaction. The keys themselves do not change, so no field, blind index, audit link or
    /// peer key changes; running processes keep the unwrapped keys they hold.
    /// - Throws: `masterKeyMismatch` when `old` does not open them all (nothing is changed).
    public func rewrapKeys(from old: MasterKey, to new: MasterKey) async throws -> (dataKeys: Int, secrets: Int) {
        let oldWrapper = KeyWrapper(master: old), newWrapper = KeyWrapper(master: new)
        return try await writeImmediate { db in
            try Self.lockKeys(db)
            var dataKeys = 0, secrets = 0
            for row in try Row.fetchAll(db, sql: "SELECT id, wrapped FROM data_keys WHERE retired_at IS NULL") {
                let id: String = row["id"]
                guard let key = try? oldWrapper.unwrap([UInt8](row["wrapped"] as Data), id: id) else {
                    throw StoreError.masterKeyMismatch
                }
                try db.execute(sql: "UPDATE data_keys SET wrapped = ? WHERE id = ?",
                               arguments: [Data(newWrapper.wrap(key, id: id)), id])
                dataKeys += 1
            }
            for row in try Row.fetchAll(db, sql: "SELECT purpose, wrapped FROM key_secrets") {
                let purpose: String = row["purpose"]
                guard let secret = try? oldWrapper.unwrap([UInt8](row["wrapped"] as Data), id: Self.secretWrapID(purpose)) else {
                    throw StoreError.masterKeyMismatch
                }
                try db.execute(sql: "UPDATE key_secrets SET wrapped = ? WHERE purpose = ?",
                               arguments: [Data(newWrapper.wrap(secret, id: Self.secretWrapID(purpose))), purpose])
                secrets += 1
            }
            return (dataKeys, secrets)
        }
    }
}
