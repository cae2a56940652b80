import Foundation
import Testing
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// Encrypted backups (white paper 8.13): what goes in, what comes back, what is kept.
@Suite struct BackupTests {
    @Test func aRestoredStoreIsTheStoreAtBackupTimeAndTheFileRevealsNothing() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "Nakamura Taro", kind: .patient, creator: f.owner)
        _ = try await f.store.post(timeline: timeline.id, author: f.owner, body: "BP 132/80 before the backup", clientMsgID: "a")
        let file = try StoreBackup.backup(f.store, masterKey: f.key, into: f.directory + "/backups")
        _ = try await f.store.post(timeline: timeline.id, author: f.owner, body: "after the backup", clientMsgID: "b")

        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        for secret in ["SQLite format 3", "BP 132/80", "Nakamura", "doc@sakura.test"] {
            #expect(bytes.range(of: Data(secret.utf8)) == nil, "the backup shows \(secret)")
        }

        let restoredPath = f.directory + "/restored/tsunagu.sqlite"
        try await StoreBackup.restore(from: file, masterKey: f.key, to: restoredPath, replace: false)
        let restored = try HubStore(path: restoredPath, masterKey: f.key)
        let (events, _) = try await restored.history(timeline: timeline.id, user: f.owner.id, after: 0, limit: 100)
        let bodies = events.compactMap { event -> String? in
            if case .message(let body, _) = event.payload { return body }
            return nil
        }
        #expect(bodies == ["BP 132/80 before the backup"])
        #expect(try await restored.user(email: "nurse@sakura.test")?.id == f.nurse.id)
    }

    @Test func restoreRefusesAnotherKeyAnExistingStoreAndAFileThatIsNoBackup() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        let file = try StoreBackup.backup(f.store, masterKey: f.key, into: f.directory + "/backups")
        let elsewhere = f.directory + "/other/tsunagu.sqlite"
        await #expect(throws: StoreBackup.Failure.wrongKey) {
            try await StoreBackup.restore(from: file, masterKey: MasterKey(key: SymmetricKey.random()), to: elsewhere, replace: false)
        }
        #expect(!FileManager.default.fileExists(atPath: elsewhere))
        await #expect(throws: StoreBackup.Failure.storeExists(f.path)) {
            try await StoreBackup.restore(from: file, masterKey: f.key, to: f.path, replace: false)
        }
        await #expect(throws: StoreBackup.Failure.notABackup(f.path)) {
            try await StoreBackup.restore(from: f.path, masterKey: f.key, to: elsewhere, replace: false)
        }
        // A byte changed anywhere in the sealed part: the tag does not verify.
        var tampered = try Data(contentsOf: URL(fileURLWithPath: file))
        tampered[tampered.count / 2] ^= 0x01
        let tamperedFile = f.directory + "/tampered.backup"
        try tampered.write(to: URL(fileURLWithPath: tamperedFile))
        await #expect(throws: StoreBackup.Failure.wrongKey) {
            try await StoreBackup.restore(from: tamperedFile, masterKey: f.key, to: elsewhere, replace: false)
        }
    }

    @Test func oneGenerationPerDayAndOnlyTheNewestEightAreKept() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        let directory = f.directory + "/backups"
        let day: TimeInterval = 86_400
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        for index in 0..<10 {
            _ = try StoreBackup.backup(f.store, masterKey: f.key, into: directory, now: start + Double(index) * day)
        }
        // The same day again replaces that day's file.
        _ = try StoreBackup.backup(f.store, masterKey: f.key, into: directory, now: start + 9 * day + 3600)
        let kept = try StoreBackup.generations(in: directory)
        #expect(kept.count == StoreBackup.generations)
        #expect(kept.first == StoreBackup.fileName(for: start + 2 * day))
        #expect(kept.last == StoreBackup.fileName(for: start + 9 * day))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == StoreBackup.generations)
    }
}
