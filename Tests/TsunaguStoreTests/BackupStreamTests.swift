import Foundation
import Testing
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// Backups sealed as a stream of chunks (docs/storage.md, "Backups"): a cut-off or reordered file
/// is refused, no plaintext is left behind, and single-shot backups of the earlier format restore.
@Suite struct BackupStreamTests {
    /// A store big enough for many 4 KiB chunks, backed up in them.
    private func chunkedBackup(_ f: StoreFixture) async throws -> (file: String, timeline: TimelineID) {
        let (timeline, _) = try await f.store.createTimeline(title: "Suzuki Ichiro", kind: .patient, creator: f.owner)
        for index in 0..<60 {
            _ = try await f.store.post(timeline: timeline.id, author: f.owner,
                                       body: "observation \(index): " + String(repeating: "x", count: 300), clientMsgID: "m\(index)")
        }
        let file = try StoreBackup.backup(f.store, sealingKey: StoreBackup.sealingKey(f.key), auditAnchor: nil,
                                          into: f.directory + "/backups", chunkBytes: 4096)
        return (file, timeline.id)
    }

    /// Byte ranges of the chunk frames (flag, length, sealed chunk) after the header.
    private func frames(_ bytes: [UInt8]) -> [Range<Int>] {
        func u32(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        var offset = 16 + 4 + u32(16)
        var ranges: [Range<Int>] = []
        while offset < bytes.count {
            let end = offset + 5 + u32(offset + 1)
            ranges.append(offset..<end)
            offset = end
        }
        return ranges
    }

    private func restoreFails(_ bytes: [UInt8], _ f: StoreFixture, _ name: String) async -> StoreBackup.Failure? {
        let file = f.directory + "/\(name).backup"
        FileManager.default.createFile(atPath: file, contents: Data(bytes))
        do {
            try await StoreBackup.restore(from: file, masterKey: f.key, to: f.directory + "/\(name)/tsunagu.sqlite", replace: false)
            return nil
        } catch let failure as StoreBackup.Failure {
            #expect(!FileManager.default.fileExists(atPath: f.directory + "/\(name)/tsunagu.sqlite"))
            return failure
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test func aChunkedBackupRestoresAndACutOffOrReorderedOneIsRefused() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        let (file, timeline) = try await chunkedBackup(f)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let ranges = frames(bytes)
        #expect(ranges.count > 5)
        #expect(ranges.last?.upperBound == bytes.count)

        let restoredPath = f.directory + "/restored/tsunagu.sqlite"
        try await StoreBackup.restore(from: file, masterKey: f.key, to: restoredPath, replace: false)
        let (events, _) = try await HubStore(path: restoredPath, masterKey: f.key)
            .history(timeline: timeline, user: f.owner.id, after: 0, limit: 1000)
        #expect(events.count >= 60)

        // The last chunk dropped whole: every remaining chunk opens, but none is marked final.
        #expect(await restoreFails(Array(bytes[..<ranges.last!.lowerBound]), f, "dropped") == .truncated(f.directory + "/dropped.backup"))
        // Cut mid-chunk.
        #expect(await restoreFails(Array(bytes[..<(ranges[2].lowerBound + 100)]), f, "cut") == .truncated(f.directory + "/cut.backup"))
        // Chunks 1 and 2 swapped.
        let swapped = Array(bytes[..<ranges[1].lowerBound]) + Array(bytes[ranges[2]]) + Array(bytes[ranges[1]])
            + Array(bytes[ranges[3].lowerBound...])
        let reordered = await restoreFails(swapped, f, "swapped")
        #expect(reordered == .damaged("chunk 1 does not open where it stands (altered or moved)"), "\(String(describing: reordered))")
        // The final flag of the last chunk cleared: it no longer opens.
        var unflagged = bytes
        unflagged[ranges.last!.lowerBound] = 0
        #expect(await restoreFails(unflagged, f, "unflagged") != nil)
    }

    @Test func noPlaintextIsLeftAndAnInterruptedBackupsCopyIsRemoved() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        let directory = f.directory + "/backups"
        // What a backup killed mid-snapshot leaves: the private copy, and the earlier format's loose copy.
        try FileManager.default.createDirectory(atPath: directory + "/.snapshot-in-progress", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: directory + "/.snapshot-in-progress/snapshot.sqlite", contents: Data("SQLite format 3".utf8))
        FileManager.default.createFile(atPath: directory + "/.snapshot-0A1B.sqlite", contents: Data("SQLite format 3".utf8))
        let file = try StoreBackup.backup(f.store, masterKey: f.key, into: directory)
        let left = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(left == [(file as NSString).lastPathComponent])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(bytes.range(of: Data("SQLite format 3".utf8)) == nil)
    }

    @Test func aSingleShotBackupOfTheEarlierFormatStillRestores() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        let (file, timeline) = try await chunkedBackup(f)
        // The same snapshot, sealed the earlier way: magic || AES-GCM(whole snapshot).
        let plainPath = f.directory + "/plain.sqlite"
        FileManager.default.createFile(atPath: plainPath, contents: nil)
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: plainPath))
        _ = try BackupSealer.open(from: input, to: output, key: StoreBackup.sealingKey(f.key))
        try output.close()
        let magic = Array("TSUNAGU-BACKUP-1".utf8)
        let plaintext = [UInt8](try Data(contentsOf: URL(fileURLWithPath: plainPath)))
        let old = magic + AESGCM.seal(plaintext, key: StoreBackup.sealingKey(f.key), associatedData: magic)
        let oldFile = f.directory + "/old.backup"
        FileManager.default.createFile(atPath: oldFile, contents: Data(old))
        let restoredPath = f.directory + "/old-restored/tsunagu.sqlite"
        try await StoreBackup.restore(from: oldFile, masterKey: f.key, to: restoredPath, replace: false)
        let (events, _) = try await HubStore(path: restoredPath, masterKey: f.key)
            .history(timeline: timeline, user: f.owner.id, after: 0, limit: 1000)
        #expect(events.count >= 60)
    }
}
