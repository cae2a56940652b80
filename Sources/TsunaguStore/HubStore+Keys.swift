import Foundation
import GRDB
import TsunaguCrypto

extension HubStore {
    /// Loads and unwraps every data key, creating the first one on a new store. Old keys stay so
    /// rows sealed before a rotation still open; new rows use the current key.
    static func loadDataKeys(_ backend: StoreBackend, wrapper: KeyWrapper) throws -> FieldCipher {
        let body = { (db: Database) throws -> [(id: String, wrapped: Data, current: Bool)] in
            // Several nodes may open a new store at once: one of them creates the first key.
            try db.dialect.serialize(db, .identity)
            var rows: [(String, Data, Bool)] = try Row.fetchAll(db, sql: "SELECT id, wrapped, is_current FROM data_keys").map {
                ($0["id"], $0["wrapped"], $0["is_current"])
            }
            if rows.isEmpty {
                let id = "dk_" + UUID().uuidString.lowercased().prefix(8)
                let wrapped = Data(wrapper.wrap(SymmetricKey.random(), id: id))
                try db.execute(
                    sql: "INSERT INTO data_keys (id, wrapped, is_current, created_at) VALUES (?, ?, 1, ?)",
                    arguments: [id, wrapped, nowMillis()])
                rows = [(id, wrapped, true)]
            }
            return rows.map { (id: $0.0, wrapped: $0.1, current: $0.2) }
        }
        let rows: [(id: String, wrapped: Data, current: Bool)]
        switch backend {
        case .sqlite(let pool):
            rows = try pool.writeWithoutTransaction { db in
                var rows: [(id: String, wrapped: Data, current: Bool)] = []
                try db.inTransaction(.immediate) {
                    rows = try body(SQLiteExecutor(db))
                    return .commit
                }
                return rows
            }
        case .postgres(let postgres):
            rows = try postgres.transaction(.write) { try body($0) }
        }
        var keys: [String: SymmetricKey] = [:]
        for row in rows {
            do {
                keys[row.id] = try wrapper.unwrap([UInt8](row.wrapped), id: row.id)
            } catch {
                throw StoreError.masterKeyMismatch
            }
        }
        guard let current = rows.first(where: { $0.current }) else {
            throw StoreError.corrupt("data_keys has no current key")
        }
        return try FieldCipher(currentKeyID: current.id, keys: keys)
    }
}
