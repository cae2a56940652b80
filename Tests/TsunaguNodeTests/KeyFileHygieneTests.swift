import Foundation
import Testing

/// The master-key file checks of every command (issue 12 item 2; docs/security.md, "Keeping the
/// master key").
@Suite struct KeyFileHygieneTests {
    @Test func aKeyFileThatGroupOrOthersMayReadOrWriteIsRefusedWithTheChmodToRun() async throws {
        let store = try await OperatorStore.make("keymode")
        defer { store.remove() }
        let key = store.directory + "/master.key"
        for mode: mode_t in [0o644, 0o640, 0o620, 0o604, 0o602, 0o666] {
            #expect(chmod(key, mode) == 0)
            let refused = try await TsunaguExecutable.run(["keys", "status"] + store.common)
            #expect(refused.status == 1, "mode \(String(mode, radix: 8))")
            #expect(refused.output.contains("run: chmod 600 \(key)"), "\(refused.output)")
            #expect(refused.output.split(separator: "\n").count == 1, "\(refused.output)")
            // Every command checks it (`serve` loads the key the same way, StoreOptions.loadKey).
            let verify = try await TsunaguExecutable.run(["audit", "verify"] + store.common)
            #expect(verify.status == 1 && verify.output.contains("chmod 600"))
        }
        #expect(chmod(key, 0o600) == 0)
        #expect(try await TsunaguExecutable.run(["keys", "status"] + store.common).status == 0)
        #expect(chmod(key, 0o400) == 0)
        #expect(try await TsunaguExecutable.run(["keys", "status"] + store.common).status == 0)
    }

    /// Needs root to give the file to another user.
    @Test(.enabled(if: geteuid() == 0)) func aKeyFileOwnedByAnotherUserIsRefusedWithTheChownToRun() async throws {
        let store = try await OperatorStore.make("keyowner")
        defer { store.remove() }
        let key = store.directory + "/master.key"
        #expect(chown(key, 65534, 65534) == 0)
        let refused = try await TsunaguExecutable.run(["keys", "status"] + store.common)
        #expect(refused.status == 1)
        #expect(refused.output.contains("owned by uid 65534"), "\(refused.output)")
        #expect(refused.output.contains("run: chown root \(key)"), "\(refused.output)")
        #expect(refused.output.split(separator: "\n").count == 1)
        #expect(chown(key, 0, 0) == 0)
        #expect(try await TsunaguExecutable.run(["keys", "status"] + store.common).status == 0)
    }

    @Test func aKeyInTheTreeOfTheStoreOrTheBackupsIsWarnedAbout() async throws {
        let store = try await OperatorStore.make("keyplace")
        defer { store.remove() }
        // OperatorStore keeps the key in the directory above the store: one tree.
        let beside = try await TsunaguExecutable.run(["keys", "status"] + store.common)
        #expect(beside.status == 0)
        #expect(beside.output.contains("warning: the master key file \(store.directory)/master.key is in the same directory tree as the store"),
                "\(beside.output)")

        // Moved to a directory of its own: no warning.
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-keyhome-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false)
        try FileManager.default.moveItem(atPath: store.directory + "/master.key", toPath: elsewhere + "/master.key")
        let apart = ["--store", store.storePath, "--master-key-file", elsewhere + "/master.key"]
        let separate = try await TsunaguExecutable.run(["keys", "status"] + apart)
        #expect(separate.status == 0)
        #expect(!separate.output.contains("warning"), "\(separate.output)")

        // Backups written into the key's tree: warned about too.
        let backup = try await TsunaguExecutable.run(["backup", "--to", elsewhere + "/backups"] + apart)
        #expect(backup.status == 0, "\(backup.output)")
        #expect(backup.output.contains("is in the same directory tree as the backups"), "\(backup.output)")
    }
}
