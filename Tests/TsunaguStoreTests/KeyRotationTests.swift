import Foundation
import GRDB
import Testing
import TsunaguCore
import TsunaguCrypto
@testable import TsunaguStore

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

    @Test func aRotationMovesEveryValueToTheNewKeyAndRetiresTheOldOne() async throws {
        let f = try await StoreFixture.make()
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
        let payload = try await f.store.pool.read {
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
        let wrapped = try await f.store.pool.read { try Data.fetchOne($0, sql: "SELECT wrapped FROM data_keys WHERE id = ?", arguments: [old]) }
        #expect(wrapped?.isEmpty == true)

        // Everything reads back, in this process and in a fresh one; lookups still work.
        #expect(try await bodies(f.store, timeline.id, f.owner.id) == (0..<20).map { "before \($0)" } + ["after"])
        let reopened = try HubStore(path: f.path, masterKey: f.key)
        #expect(try await bodies(reopened, timeline.id, f.owner.id).count == 21)
        #expect(try await reopened.user(email: "nurse@sakura.test")?.name == "Sato Hanako")
        #expect(try await reopened.timelines(for: f.owner.id).first?.title == "Ward 3")
        #expect(try await reopened.verifyAuditChain().brokenAt == nil)
    }

    /// The audit chain commits to the original ciphertext of audit details: after the rotation
    /// that stays (and verifies) while readers open the re-sealed value, under the new key.
    @Test func auditDetailsAreResealedBesideTheChainedCiphertext() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        try await f.store.audit(AuditRecord(organization: f.organization.id, actor: nil, action: "login.failure",
                                            details: "unknown address x@y.test"))
        let original = try await f.store.pool.read { try Data.fetchOne($0, sql: "SELECT details FROM audit_log WHERE seq = 1") }
        let (new, _) = try await f.store.beginDataKeyRotation()
        guard case .finished(let retired) = try await finish(f.store) else { Issue.record("not finished"); return }
        #expect(retired.count == 1)
        let (details, resealed) = try await f.store.pool.read { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT details, details_resealed FROM audit_log WHERE seq = 1"))
            return (row["details"] as Data?, row["details_resealed"] as Data?)
        }
        #expect(details == original)
        #expect(FieldCipher.keyID(of: [UInt8](try #require(resealed))) == new)
        #expect(try await f.store.verifyAuditChain().brokenAt == nil)
        let reopened = try HubStore(path: f.path, masterKey: f.key)
        let entries = try await reopened.auditEntries(organization: f.organization.id, fromMillis: 0, toMillis: .max, limit: 10)
        #expect(entries.first?.record.details == "unknown address x@y.test")
    }

    /// Another process (here another store instance on the same file) sees the new key: it opens
    /// new-key values at once and seals with the new key within the refresh interval.
    @Test func anotherProcessNoticesTheNewKey() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        let other = try HubStore(path: f.path, masterKey: f.key)
        let (timeline, _) = try await f.store.createTimeline(title: "Ward 5", kind: .group, creator: f.owner)
        let (new, _) = try await other.beginDataKeyRotation()
        _ = try await other.post(timeline: timeline.id, author: f.owner, body: "by the rotator", clientMsgID: UUID().uuidString)
        // Unknown key id: reloaded on the spot.
        #expect(try await bodies(f.store, timeline.id, f.owner.id) == ["by the rotator"])
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(f.store.cipher.currentKeyID == new)
    }

    /// A rotation stopped midway (the process died) resumes where it stopped.
    @Test func anInterruptedRotationResumes() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "Ward 7", kind: .group, creator: f.owner)
        for i in 0..<10 { _ = try await f.store.post(timeline: timeline.id, author: f.owner, body: "m\(i)", clientMsgID: UUID().uuidString) }
        do {
            let first = try HubStore(path: f.path, masterKey: f.key)
            let (key, _) = try await first.beginDataKeyRotation()
            for _ in 0..<3 { _ = try await first.continueDataKeyRotation(batchSize: 2) }
            let (again, resumed) = try await HubStore(path: f.path, masterKey: f.key).beginDataKeyRotation()
            #expect(resumed && again == key)
        }
        let second = try HubStore(path: f.path, masterKey: f.key)
        let status = try await second.keyStatus()
        #expect((status.rotation?.moved ?? 0) >= 2 && status.rotation?.finishedAtMillis == nil)
        guard case .finished(let retired) = try await finish(second) else { Issue.record("not finished"); return }
        #expect(retired.count == 1)
        #expect(try await bodies(second, timeline.id, f.owner.id).count == 10)
    }

    @Test func aMasterKeyRotationKeepsLookupsTheAuditChainAndThePeerKey() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        try await f.store.audit(AuditRecord(organization: f.organization.id, actor: nil, action: "login.failure", details: "d"))
        let newMaster = MasterKey(key: SymmetricKey.random())
        let counts = try await f.store.rewrapKeys(from: f.key, to: newMaster)
        #expect(counts.dataKeys == 1 && counts.secrets == 4)
        // The running instance keeps working; a new one opens with the new key only.
        #expect(try await f.store.user(email: "doc@sakura.test")?.name == "Dr. Ito")
        let reopened = try HubStore(path: f.path, masterKey: newMaster)
        #expect(try await reopened.user(email: "Nurse@Sakura.test ")?.name == "Sato Hanako")
        #expect(try await reopened.verifyAuditChain() == (checked: 1, brokenAt: nil))
        #expect(reopened.peerLinkKey == f.store.peerLinkKey)
        #expect(throws: StoreError.masterKeyMismatch) { try HubStore(path: f.path, masterKey: f.key) }
        // A wrong "old" key changes nothing.
        await #expect(throws: StoreError.masterKeyMismatch) { try await reopened.rewrapKeys(from: f.key, to: f.key) }
    }

    /// A store from before the secrets were stored keeps the values its master key derived, so its
    /// blind indexes and audit chain stay valid; a new store gets random ones.
    @Test func storedSecretsAreTheOldDerivedValuesOnAnExistingStore() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        #expect(f.store.peerLinkKey != f.key.derivedKey(purpose: "peer-link"))
        // As before the migration: secrets derived from the master key, none stored.
        try await f.store.pool.write { try $0.execute(sql: "DELETE FROM key_secrets") }
        let derivedIndex = BlindIndex(key: f.key.derivedKey(purpose: "blind-index")).index(email: "legacy@sakura.test")
        let legacy = try HubStore(path: f.path, masterKey: f.key)
        #expect(legacy.peerLinkKey == f.key.derivedKey(purpose: "peer-link"))
        #expect(legacy.auditKey == f.key.derivedKey(purpose: "audit-chain"))
        #expect([UInt8](legacy.index(email: "legacy@sakura.test")) == derivedIndex)
    }
}
