import Foundation
import GRDB
import Testing
import TsunaguCrypto
@testable import TsunaguStore

@Suite struct MigrationTests {
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
            #expect(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") == ["2026-11-27-core", "2026-11-27-cluster", "2026-11-27-audit", "2026-11-27-identity",
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

    @Test func reopeningKeepsDataAndDataKeys() async throws {
        let f = try StoreFixture()
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "Kept", kind: .group, creator: f.owner)
        let reopened = try HubStore(path: f.path, masterKey: f.key)
        let timelines = try await reopened.timelines(for: f.owner.id)
        #expect(timelines.map(\.title) == ["Kept"])
        #expect(timelines.map(\.id) == [timeline.id])
    }

    /// Several node processes may start at once on a new store; every one of them opens it.
    @Test func concurrentOpensOfANewStoreAllSucceedWithOneDataKey() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-open-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = MasterKey(key: .random())
        let path = directory + "/tsunagu.sqlite"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { _ = try HubStore(path: path, masterKey: key) } }
            try await group.waitForAll()
        }
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let keys = try await queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM data_keys") }
        #expect(keys == 1)
    }
}
