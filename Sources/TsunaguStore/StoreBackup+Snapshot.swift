import Foundation
import GRDB
import TsunaguCrypto

/// Where a backup's snapshot comes from, for either backend; the sealing stays in
/// `StoreBackup.backup`, one place for both (docs/storage.md, "Backups").
extension StoreBackup {
    /// Writes a consistent snapshot of `store` as a SQLite file at `path`: SQLite's online backup
    /// API for a SQLite store; for a PostgreSQL store, one REPEATABLE READ READ ONLY snapshot copied
    /// row for row by `StoreCopy` (the same copy as `tsunagu store migrate`). Either way the backup
    /// is the same format, restorable into either backend.
    static func writeSnapshot(of store: HubStore, to path: String) throws {
        switch store.backend {
        case .sqlite(let pool):
            let snapshot = try DatabaseQueue(path: path)
            try pool.backup(to: snapshot)
            try snapshot.close()
        case .postgres:
            _ = try StoreCopy.copyRows(from: store.backend, to: .sqlite(path: path))
        }
    }

    /// Restores a backup into a PostgreSQL database, which must be empty (new, migrated or not):
    /// the backup is opened and checked exactly as for a SQLite store, into a file in
    /// `workDirectory`, then copied in with `StoreCopy` and verified. Nodes of the target are
    /// stopped by construction (an empty database has none).
    public static func restore(from file: String, masterKey: MasterKey, into target: PostgresStoreConfiguration,
                               workDirectory: String) async throws -> StoreCopy.Report {
        let staging = (workDirectory as NSString).appendingPathComponent(".restore-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let path = (staging as NSString).appendingPathComponent("tsunagu.sqlite")
        try await restore(from: file, masterKey: masterKey, to: path, replace: false)
        return try await StoreCopy.copy(from: .sqlite(path: path), to: .postgres(target), masterKey: masterKey)
    }
}
