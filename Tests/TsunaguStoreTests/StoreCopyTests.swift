import Foundation
import Testing
import TsunaguCore
import TsunaguCrypto
import TsunaguTestSupport
@testable import TsunaguStore

/// `tsunagu store migrate` and PostgreSQL backups share one copy: every row as stored, verified.
@Suite(.serialized) struct StoreCopyTests {
    /// A hub with timelines, messages, a reaction, read markers, a call and audit entries.
    private func fill(_ f: StoreFixture) async throws -> [TimelineID] {
        var timelines: [TimelineID] = []
        for title in ["Nakamura Taro", "Ward 3"] {
            let (timeline, _) = try await f.store.createTimeline(title: title, kind: .patient, creator: f.owner)
            _ = try await f.store.addMember(timeline: timeline.id, email: "nurse@sakura.test", role: .member, by: f.owner)
            for i in 0..<30 {
                _ = try await f.store.post(timeline: timeline.id, author: i % 2 == 0 ? f.owner : f.nurse, body: "BP 1\(i)/80",
                                           clientMsgID: "\(title)-\(i)")
            }
            _ = try await f.store.react(timeline: timeline.id, author: f.nurse, targetSeq: 3, reaction: "ack", op: .add)
            _ = try await f.store.call(timeline: timeline.id, author: f.owner, callID: "c1", op: .start)
            _ = try await f.store.markRead(timeline: timeline.id, user: f.nurse.id, seq: 10)
            timelines.append(timeline.id)
        }
        for i in 0..<12 {
            try await f.store.audit(AuditRecord(organization: f.organization.id, actor: f.owner.id, action: "login.success",
                                                target: "s_\(i)", source: "127.0.0.1", details: "attempt \(i)"))
        }
        return timelines
    }

    private func expectSameHub(_ f: StoreFixture, _ timelines: [TimelineID], _ copy: HubStore) async throws {
        for timeline in timelines {
            let (original, head) = try await f.store.history(timeline: timeline, user: f.nurse.id, after: 0, limit: 1000)
            let (copied, copiedHead) = try await copy.history(timeline: timeline, user: f.nurse.id, after: 0, limit: 1000)
            #expect(copied == original && copiedHead == head)
            #expect(try await copy.receipts(timeline: timeline) == f.store.receipts(timeline: timeline))
        }
        #expect(try await copy.timelines(for: f.nurse.id).map(\.title) == f.store.timelines(for: f.nurse.id).map(\.title))
        #expect(try await copy.user(email: "doc@sakura.test")?.id == f.owner.id)
        let audit = try await copy.verifyAuditChain()
        #expect(audit.brokenAt == nil && audit.checked == 12)
        // The copy keeps working: the next post takes the next seq.
        let (event, _) = try await copy.post(timeline: timelines[0], author: f.owner, body: "after", clientMsgID: "after")
        #expect(event.seq == 35)
    }

    @Test func aSQLiteHubMovesToPostgresIntactAndTheCopyIsVerified() async throws {
        let f = try await StoreFixture.make(.sqlite)
        defer { f.remove() }
        let timelines = try await fill(f)
        let target = try await offCooperativePool { try PostgresTestServer.shared.get().makeDatabase() }
        let report = try await StoreCopy.copy(from: f.location, to: .postgres(target), masterKey: f.key)
        #expect(report.rows["events"] == 68 && report.rows["audit_log"] == 12 && report.rows["data_keys"] == 1)
        #expect(report.auditEntries == 12 && report.sampledEvents > 0)
        let copy = try HubStore(location: .postgres(target), masterKey: f.key)
        try await expectSameHub(f, timelines, copy)
        // Ciphertexts moved as they are: the same bytes in both stores.
        let id = timelines[0].rawValue
        let sql = "SELECT lower(hex(payload)) FROM events WHERE timeline_id = '\(id)' AND seq = 5"
        let postgresHex = try PostgresTestServer.shared.get().psql(target.database,
            "SELECT encode(payload, 'hex') FROM events WHERE timeline_id = '\(id)' AND seq = 5")
        #expect(try f.raw(sql) == postgresHex)
    }

    @Test func aCopyIntoANonEmptyStoreIsRefusedAndChangesNothing() async throws {
        let f = try await StoreFixture.make(.sqlite)
        defer { f.remove() }
        _ = try await fill(f)
        let other = try await StoreFixture.make(.postgres)
        defer { other.remove() }
        await #expect(throws: StoreCopy.Failure.self) {
            try await StoreCopy.copy(from: f.location, to: other.location, masterKey: f.key)
        }
        #expect(try other.raw("SELECT COUNT(*) FROM events") == "0")
    }

    @Test func aPostgresStoreIsBackedUpAndRestoresIntoEitherBackend() async throws {
        let f = try await StoreFixture.make(.postgres)
        defer { f.remove() }
        let timelines = try await fill(f)
        let file = try StoreBackup.backup(f.store, masterKey: f.key, into: f.directory + "/backups")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        for secret in ["SQLite format 3", "BP 12/80", "Nakamura", "doc@sakura.test"] {
            #expect(bytes.range(of: Data(secret.utf8)) == nil, "the backup shows \(secret)")
        }
        // Into SQLite, as any backup.
        let path = f.directory + "/restored/tsunagu.sqlite"
        try await StoreBackup.restore(from: file, masterKey: f.key, to: path, replace: false)
        try await expectSameHub(f, timelines, try HubStore(path: path, masterKey: f.key))
        // Into an empty PostgreSQL database.
        let target = try await offCooperativePool { try PostgresTestServer.shared.get().makeDatabase() }
        let report = try await StoreBackup.restore(from: file, masterKey: f.key, into: target, workDirectory: f.directory)
        #expect(report.auditEntries == 12)
    }
}
