import Foundation
import GRDB
import Testing
import TsunaguCrypto
@testable import TsunaguStore
import TsunaguTestSupport

@Suite(.serialized) struct MigrationTests {
    @Test func aNewStoreIsMigratedInWALWithFullSync() throws {
        let f = try StoreFixture()
        defer { f.remove() }
        let queue = try DatabaseQueue(path: f.path)
        defer { try? queue.close() }
        try queue.read { db in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            for table in ["call_logs", "data_keys", "events", "memberships", "organizations", "read_receipts", "sessions",
                          "timelines", "users", "grdb_migrations"] {
                #expect(tables.contains(table), "\(table)")
            }
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") == StoreSchema.migrator.names)
            #expect(StoreSchema.migrator.names == ["2026-11-27-core", "2026-11-27-cluster", "2026-11-27-audit", "2026-11-27-identity",
                                                                                               "2026-11-27-login-throttle", "2026-11-27-client-certificates",
                                                                                               "2026-11-27-password-policy", "2026-12-01-profession",
                                                                                               "2026-12-01-login-attempt-reservations",
                                                                                               "2026-12-01-session-certificate-binding",
                                                                                               "2026-12-02-durable-revocation", "2026-12-02-session-activity",
                                                                                               "2026-12-02-key-rotation", "2026-12-02-operations",
                                                                                               "2026-12-01-timeline-invitations"])
        }
        // synchronous is per connection: the store's own connections set FULL (2)
        #expect(try f.store.pool.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }

    @Test(arguments: StoreBackendKind.allCases)

    func reopeningKeepsDataAndDataKeys(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "Kept", kind: .group, creator: f.owner)
        let reopened = try f.reopen()
        let timelines = try await reopened.timelines(for: f.owner.id)
        #expect(timelines.map(\.title) == ["Kept"])
        #expect(timelines.map(\.id) == [timeline.id])
    }

    /// The PostgreSQL twin of every migration is applied, and recorded by name.
    @Test func aNewPostgresStoreHasEveryMigrationAndSynchronousCommit() async throws {
        let f = try await StoreFixture.make(.postgres)
        defer { f.remove() }
        let applied = try f.raw("SELECT string_agg(name, ',' ORDER BY name COLLATE \"C\") FROM schema_migrations")
        #expect(applied == StoreSchema.migrator.names.sorted().joined(separator: ","))
        #expect(try f.raw("SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'payload'") == "bytea")
        #expect(try f.raw("SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'seq'") == "bigint")
        let synchronous = try f.store.withPostgresForTests { db in try String.fetchOne(db, sql: "SHOW synchronous_commit") }
        #expect(synchronous == "on")
    }

    /// SQLite DDL as PostgreSQL DDL: the automatic twin of a migration.
    @Test func sqliteDDLTranslatesToPostgres() {
        let translated = SQLDialect.postgresDDL("""
            CREATE TABLE t (
                id TEXT PRIMARY KEY,
                n INTEGER NOT NULL DEFAULT 0, -- an INTEGER, a BLOB in a comment
                b BLOB
            ) WITHOUT ROWID;
            ALTER TABLE u ADD COLUMN flag INTEGER NOT NULL DEFAULT 0
            """)
        #expect(translated.contains("n BIGINT NOT NULL DEFAULT 0,"))
        #expect(translated.contains("b BYTEA"))
        #expect(!translated.contains("ROWID") && !translated.contains("comment"))
        #expect(translated.contains("ADD COLUMN flag BIGINT"))
        #expect(SQLDialect.statements(translated).count == 2)
        #expect(SQLDialect.numberedPlaceholders("SELECT '?' , ? FROM t WHERE a = ? -- ?\n AND b = ?")
                == "SELECT '?' , $1 FROM t WHERE a = $2 -- ?\n AND b = $3")
    }

    /// Several nodes start at once on a new PostgreSQL database: one migrates, the others wait.
    @Test func concurrentOpensOfANewPostgresStoreAllSucceedWithOneDataKey() async throws {
        let configuration = try await offCooperativePool { try PostgresTestServer.shared.get().makeDatabase() }
        let key = MasterKey(key: .random())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { _ = try HubStore(location: .postgres(configuration), masterKey: key) } }
            try await group.waitForAll()
        }
        let keys = try PostgresTestServer.shared.get().psql(configuration.database, "SELECT COUNT(*) FROM data_keys")
        #expect(keys == "1")
    }

    /// Several node processes may start at once on a new store; every one of them opens it.
    @Test func concurrentOpensOfANewStoreAllSucceedWithOneDataKey() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-open-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = MasterKey(key: .random())
        let path = directory + "/tsunagu.sqlite"
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Each closes at once: a store dropped closes later on another thread, and the last
            // connection's checkpoint would hold the file while the check below opens it.
            for _ in 0..<4 { group.addTask { try HubStore(path: path, masterKey: key).close() } }
            try await group.waitForAll()
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        let keys = try await queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM data_keys") }
        #expect(keys == 1)
    }
}
