import Foundation
import GRDB

/// Named, forward-only migrations, one list for both backends (docs/storage.md, "Migrations").
///
/// Each migration is written once, as SQLite DDL, and registered with the same call shape as
/// GRDB's `DatabaseMigrator`. On SQLite the list runs through GRDB's migrator (its
/// `grdb_migrations` table, as before). On PostgreSQL its twin is made automatically: the
/// migration's statements run through `SQLDialect.postgresDDL` (BLOB → BYTEA, INTEGER → BIGINT,
/// no `WITHOUT ROWID`), applied names are kept in `schema_migrations`, and the whole run holds an
/// advisory lock in one transaction (PostgreSQL DDL is transactional): when several nodes start
/// at once, one migrates and the others wait, then find every migration applied.
///
/// Adding a migration: append `migrator.registerMigration("YYYY-MM-DD-name") { db in try
/// db.execute(sql: "…") }` to `StoreSchema`, with only TEXT, INTEGER and BLOB columns; its
/// PostgreSQL twin needs nothing more. Only a migration that the translation cannot express passes
/// its own PostgreSQL text: `registerMigration("name", postgres: "…") { db in … }`.
struct StoreMigrator {
    struct Migration {
        let name: String
        let postgres: String?
        let body: @Sendable (Database) throws -> Void
    }

    private(set) var migrations: [Migration] = []

    mutating func registerMigration(_ name: String, postgres: String? = nil,
                                    _ body: @escaping @Sendable (Database) throws -> Void) {
        precondition(!migrations.contains { $0.name == name }, "migration \(name) registered twice")
        migrations.append(Migration(name: name, postgres: postgres, body: body))
    }

    var names: [String] { migrations.map(\.name) }

    /// The SQLite form: GRDB's migrator over the same list.
    var grdbMigrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.name) { db in try migration.body(SQLiteExecutor(db)) }
        }
        return migrator
    }

    /// Applies the missing migrations on PostgreSQL, in order, under the migration lock.
    func migrate(_ backend: PostgresBackend) throws {
        try backend.transaction(.write) { db in
            try db.dialect.serialize(db, .migrations)
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)
                """)
            let applied = Set(try String.fetchAll(db, sql: "SELECT name FROM schema_migrations"))
            for migration in migrations where !applied.contains(migration.name) {
                if let postgres = migration.postgres {
                    try db.execute(sql: postgres)
                } else {
                    try migration.body(PostgresDDLExecutor(db))
                }
                try db.execute(sql: "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                               arguments: [migration.name, HubStore.nowMillis()])
            }
        }
    }
}

/// Runs a SQLite migration body on PostgreSQL: its DDL is translated on the way.
private final class PostgresDDLExecutor: StoreExecutor {
    let base: PostgresExecutor
    init(_ base: PostgresExecutor) { self.base = base }

    var dialect: SQLDialect { .postgres }
    func execute(sql: String, arguments: SQLArguments, cached: Bool) throws {
        try base.execute(sql: SQLDialect.postgresDDL(sql), arguments: arguments, cached: false)
    }
    func fetchAll(sql: String, arguments: SQLArguments, cached: Bool) throws -> [Row] {
        try base.fetchAll(sql: sql, arguments: arguments, cached: cached)
    }
    func fetchOne(sql: String, arguments: SQLArguments, cached: Bool) throws -> Row? {
        try base.fetchOne(sql: sql, arguments: arguments, cached: cached)
    }
    func sendWithoutWaiting(sql: String, arguments: SQLArguments) throws {
        try base.sendWithoutWaiting(sql: sql, arguments: arguments)
    }
    var changesCount: Int { base.changesCount }
    var isInsideTransaction: Bool { base.isInsideTransaction }
    func inSavepoint(_ body: () throws -> Void) throws { try base.inSavepoint(body) }
    func noteAppended(timeline: String, seq: Int64) {}
}
