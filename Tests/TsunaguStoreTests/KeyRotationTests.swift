import Foundation
import GRDB
import Testing
import TsunaguCore
import TsunaguCrypto
@testable import TsunaguStore
import TsunaguTestSupport

/// Data-key and master-key rotation at the store level (issue 12 item 1). The process-level test
/// under load is `KeyRotationCommandTests`.
@Suite struct KeyRotationTests {
    /// Runs the rotation under way to its end, answering the last step.
    private func finish(_ store: HubStore, batchSize: Int = 3) async throws -> HubStore.RotationStep {
        while true {
            let step = try await store.continueDataKeyRotation(batchSize: batchSize)
            switch step {
            case .finished: return step
            case .waiting(let until):
                try await Task.sleep(for: .milliseconds(max(until - WireTime.nowMillis(), 10)))
            case .batch: continue
            }
        }
    }

    private func bodies(_ store: HubStore, _ timeline: TimelineID, _ user: UserID) async throws -> [String] {
        try await store.history(timeline: timeline, user: user, after: 0, limit: 1000).events.compactMap {
            if case .message(let body, _) = $0.payload { body } else { nil }
        }
    }

    @Test(arguments: StoreBackendKind.allCases) func aRotationMovesEveryValueToTheNewKeyAndRetiresTheOldOne(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "Ward 3", kind: .group, creator: f.owner)
        for i in 0..<20 { _ = try await f.store.post(timeline: timeline.id, author: f.owner, body: "before \(i)", clientMsgID: UUID().uuidString) }
        let old = f.store.cipher.currentKeyID
        try await f.store.audit(AuditRecord(organization: f.organization.id, actor: f.owner.id, action: "login.failure",
                                            details: "unknown address x@y.test"))

        let (new, resumed) = try await f.store.beginDataKeyRotation()
        #expect(!resumed && new != old)
        // New writes use the new key at once.
        let after = try await f.store.post(timeline: timeline.id, author: f.owner, body: "after", clientMsgID: UUID().uuidString)
        let payload = try await f.store.read {
            try Data.fetchOne($0, sql: "SELECT payload FROM events WHERE timeline_id = ? AND seq = ?",
                              arguments: [timeline.id.rawValue, after.event.seq])
        }
        #expect(FieldCipher.keyID(of: [UInt8](try #require(payload))) == new)
        let during = try await f.store.keyStatus()
        #expect(during.rotation?.targetKey == new && during.rotation?.finishedAtMillis == nil)
        #expect((during.dataKeys.first { $0.id == old }?.values ?? 0) > 20)

        guard case .finished(let retired) = try await finish(f.store) else { Issue.record("not finished"); return }
        #expect(retired == [old])
        let status = try await f.store.keyStatus()
        let oldStatus = try #require(status.dataKeys.first { $0.id == old })
        #expect(oldStatus.retiredAtMillis != nil && oldStatus.values == 0 && !oldStatus.isCurrent)
        #expect(status.dataKeys.first { $0.id == new }?.isCurrent == true)
        #expect(status.rotation?.finishedAtMillis != nil && (status.rotation?.moved ?? 0) > 20)
        // The retired key's material is gone from the store.
        let wrapped = try await f.store.read { try Data.fetchOne($0, sql: "SELECT wrapped FROM data_keys WHERE id = ?", arguments: [old]) }
        #expect(wrapped?.isEmpty == true)

        // Everything reads back, in this process and in a fresh one; lookups still work.
        #expect(try await bodies(f.store, timeline.id, f.owner.id) == (0..<20).map { "before \($0)" } + ["after"])
        let reopened = try f.reopen()
        #expect(try await bodies(reopened, timeline.id, f.owner.id).count == 21)
        #expect(try await reopened.user(email: "nurse@sakura.test")?.name == "Sato Hanako")
        #expect(try await reopened.timelines(for: f.owner.id).first?.title == "Ward 3")
        #expect(try await reopened.verifyAuditChain().brokenAt == nil)
    }

    /// The audit chain commits to the original ciphertext of audit details: after the rotation
    /// that stays (and verifies) while readers open the re-sealed value, under the new key.
    @Test(arguments: StoreBackendKind.allCases) func auditDetailsAreResealedBesideTheChainedCiphertext(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        try await f.store.audit(AuditRecord(organization: f.organization.id, actor: nil, action: "login.failure",
                                            details: "unknown address x@y.test"))
        let original = try await f.store.read { try Data.fetchOne($0, sql: "SELECT details FROM audit_log WHERE seq = 1") }
        let (new, _) = try await f.store.beginDataKeyRotation()
        guard case .finished(let retired) = try await finish(f.store) else { Issue.record("not finished"); return }
        #expect(retired.count == 1)
        let (details, resealed) = try await f.store.read { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT details, details_resealed FROM audit_log WHERE seq = 1"))
            return (row["details"] as Data?, row["details_resealed"] as Data?)
        }
        #expect(details == original)
        #expect(FieldCipher.keyID(of: [UInt8](try #require(resealed))) == new)
        #expect(try await f.store.verifyAuditChain().brokenAt == nil)
        let reopened = try f.reopen()
        let entries = try await reopened.auditEntries(organization: f.organization.id, fromMillis: 0, toMillis: .max, limit: 10)
        #expect(entries.first?.record.details == "unknown address x@y.test")
    }

    /// Another process (here another store instance on the same file) sees the new key: it opens
    /// new-key values at once and seals with the new key within the refresh interval.
    @Test(arguments: StoreBackendKind.allCases) func anotherProcessNoticesTheNewKey(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let other = try f.reopen()
        let (timeline, _) = try await f.store.createTimeline(title: "Ward 5", kind: .group, creator: f.owner)
        let (new, _) = try await other.beginDataKeyRotation()
        _ = try await other.post(timeline: timeline.id, author: f.owner, body: "by the rotator", clientMsgID: UUID().uuidString)
        // Unknown key id: reloaded on the spot.
        #expect(try await bodies(f.store, timeline.id, f.owner.id) == ["by the rotator"])
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(f.store.cipher.currentKeyID == new)
    }

    /// A rotation stopped midway (the process died) resumes where it stopped.
    @Test(arguments: StoreBackendKind.allCases) func anInterruptedRotationResumes(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "Ward 7", kind: .group, creator: f.owner)
        for i in 0..<10 { _ = try await f.store.post(timeline: timeline.id, author: f.owner, body: "m\(i)", clientMsgID: UUID().uuidString) }
        do {
            let first = try f.reopen()
            let (key, _) = try await first.beginDataKeyRotation()
            for _ in 0..<3 { _ = try await first.continueDataKeyRotation(batchSize: 2) }
            let (again, resumed) = try await f.reopen().beginDataKeyRotation()
            #expect(resumed && again == key)
        }
        let second = try f.reopen()
        let status = try await second.keyStatus()
        #expect((status.rotation?.moved ?? 0) >= 2 && status.rotation?.finishedAtMillis == nil)
        guard case .finished(let retired) = try await finish(second) else { Issue.record("not finished"); return }
        #expect(retired.count == 1)
        #expect(try await bodies(second, timeline.id, f.owner.id).count == 10)
    }

    @Test(arguments: StoreBackendKind.allCases) func aMasterKeyRotationKeepsLookupsTheAuditChainAndThePeerKey(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        try await f.store.audit(AuditRecord(organization: f.organization.id, actor: nil, action: "login.failure", details: "d"))
        let newMaster = MasterKey(key: SymmetricKey.random())
        let counts = try await f.store.rewrapKeys(from: f.key, to: newMaster)
        #expect(counts.dataKeys == 1 && counts.secrets == 4)
        // The running instance keeps working; a new one opens with the new key only.
        #expect(try await f.store.user(email: "doc@sakura.test")?.name == "Dr. Ito")
        let reopened = try f.reopen(key: newMaster)
        #expect(try await reopened.user(email: "Nurse@Sakura.test ")?.name == "Sato Hanako")
        #expect(try await reopened.verifyAuditChain() == (checked: 1, brokenAt: nil))
        #expect(reopened.peerLinkKey == f.store.peerLinkKey)
        #expect(throws: StoreError.masterKeyMismatch) { try f.reopen() }
        // A wrong "old" key changes nothing.
        await #expect(throws: StoreError.masterKeyMismatch) { try await reopened.rewrapKeys(from: f.key, to: f.key) }
    }

    /// A value another node changes while a re-encryption batch runs keeps its change: the batch
    /// re-seals what it locked, never an older read (on PostgreSQL, where writers run beside the
    /// batch, it reads its rows `FOR UPDATE`; SQLite's write lock already excludes them).
    @Test(arguments: StoreBackendKind.allCases)
    func aValueChangedDuringABatchKeepsTheChange(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        _ = try await f.store.beginDataKeyRotation()
        // The name another node writes meanwhile (sealed under the new key, as it would be).
        let renamed = f.store.seal("Sato Hanako (renamed)", table: "users", column: "name", row: f.nurse.id.rawValue)
        let hex = renamed.map { String(format: "%02x", $0) }.joined()
        let target = "WHERE id = '\(f.nurse.id.rawValue)'"
        switch f.location {
        case .postgres(let configuration):
            // A writer holding its row lock across the batch: the batch's read comes first.
            let server = try PostgresTestServer.shared.get()
            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            writer.arguments = ["-h", "127.0.0.1", "-p", String(server.port), "-U", "postgres", "-d", configuration.database,
                                "-v", "ON_ERROR_STOP=1", "-qc",
                                "BEGIN; UPDATE users SET name = decode('\(hex)', 'hex') \(target); SELECT pg_sleep(2); COMMIT;"]
            writer.standardOutput = FileHandle.nullDevice
            try writer.run()
            // The batch starts once the writer holds the row (its UPDATE done, sleeping).
            for _ in 0..<100 {
                let sleeping = try f.raw("""
                    SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid()
                    """)
                if sleeping == "1" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            guard case .finished = try await finish(f.store, batchSize: 1000) else { Issue.record("not finished"); return }
            writer.waitUntilExit()
            #expect(writer.terminationStatus == 0)
        case .sqlite:
            // Writers take turns with the batch: the change lands before or after it, whole.
            try await f.store.writeImmediate { try $0.execute(sql: "UPDATE users SET name = x'\(hex)' \(target)") }
            guard case .finished = try await finish(f.store, batchSize: 1000) else { Issue.record("not finished"); return }
        }
        #expect(try await f.reopen().user(email: "nurse@sakura.test")?.name == "Sato Hanako (renamed)")
    }

    /// Operators (or a retry) starting a rotation from several processes at once get one
    /// rotation and one current key; a master-key rewrap at the same time leaves no key wrapped
    /// under the old master key (on PostgreSQL the key changes take turns on `data_keys`).
    @Test(arguments: StoreBackendKind.allCases)
    func keyChangesFromSeveralProcessesAtOnceTakeTurns(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let stores = try (0..<6).map { _ in try f.reopen() }
        let started = try await withThrowingTaskGroup(of: String.self) { group in
            for store in stores { group.addTask { try await store.beginDataKeyRotation().keyID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(started.count == 1, "one rotation, whoever started it")
        let status = try await f.store.keyStatus()
        #expect(status.dataKeys.filter(\.isCurrent).map(\.id) == Array(started))

        // Another rotation and a master-key rewrap at once: whichever goes second sees the other's keys.
        guard case .finished = try await finish(f.store) else { Issue.record("not finished"); return }
        let newMaster = MasterKey(key: SymmetricKey.random())
        async let rotated = stores[0].beginDataKeyRotation()
        async let rewrapped = stores[1].rewrapKeys(from: f.key, to: newMaster)
        var refusal: (any Error)?
        do { _ = try await rotated } catch { refusal = error }
        _ = try await rewrapped
        // The rotation began either before the rewrap (then rewrapped with the rest) or after
        // it with the old master key (then refused): never a key only the old master opens.
        if let refusal { #expect(refusal as? StoreError == .masterKeyMismatch, "\(refusal)") }
        #expect(throws: Never.self) { _ = try f.reopen(key: newMaster) }
        #expect(throws: StoreError.masterKeyMismatch) { _ = try f.reopen(key: f.key) }
    }

    /// A store from before the secrets were stored keeps the values its master key derived, so its
    /// blind indexes and audit chain stay valid; a new store gets random ones.
    @Test(arguments: StoreBackendKind.allCases) func storedSecretsAreTheOldDerivedValuesOnAnExistingStore(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        #expect(f.store.peerLinkKey != f.key.derivedKey(purpose: "peer-link"))
        // As before the migration: secrets derived from the master key, none stored.
        try await f.store.writeImmediate { try $0.execute(sql: "DELETE FROM key_secrets") }
        let derivedIndex = BlindIndex(key: f.key.derivedKey(purpose: "blind-index")).index(email: "legacy@sakura.test")
        let legacy = try f.reopen()
        #expect(legacy.peerLinkKey == f.key.derivedKey(purpose: "peer-link"))
        #expect(legacy.auditKey == f.key.derivedKey(purpose: "audit-chain"))
        #expect([UInt8](legacy.index(email: "legacy@sakura.test")) == derivedIndex)
    }
}
