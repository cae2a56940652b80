import Foundation
import Testing

/// `tsunagu audit verify` against signed anchors (docs/security.md, "Audit log"), run as the real
/// executable: the intact store, a copy with its last entries deleted, a copy with one edited.
@Suite(.processHeavy) struct AuditAnchorCommandTests {
    @Test func verifyNamesTheFirstBadPositionOfATruncatedOrEditedCopyAndPassesTheIntactStore() async throws {
        let store = try await OperatorStore.make("anchor")
        defer { store.remove() }
        let common = store.common
        for index in 1...4 {
            #expect(try await TsunaguExecutable.run(["admin", "add-user", "--email", "u\(index)@o.test", "--name", "U\(index)",
                                                     "--password-stdin"] + common, stdin: "long enough password").status == 0)
        }
        // 2 entries from the setup, 4 users, the backup's own entry: the anchor counts 7.
        let anchors = store.directory + "/anchors"
        let backup = try await TsunaguExecutable.run(["backup", "--audit-anchor-dir", anchors] + common)
        #expect(backup.status == 0, "\(backup.output)")
        let backupName = try #require(try FileManager.default.contentsOfDirectory(atPath: store.directory + "/data/backups")
            .first { $0.hasSuffix(".backup") })
        let backupFile = store.directory + "/data/backups/" + backupName
        // No plaintext copy is left beside the sealed generation.
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory + "/data/backups") == [backupName])

        let intact = try await TsunaguExecutable.run(["audit", "verify", "--audit-anchor-dir", anchors] + common)
        #expect(intact.status == 0, "\(intact.output)")
        #expect(intact.output.contains("7 entries verified"))

        // A copy with the last 3 entries deleted: still a valid chain, but shorter than anchored.
        let truncated = try await copy(store, named: "truncated", sql: "DELETE FROM audit_log WHERE seq > 4")
        let short = try await TsunaguExecutable.run(["audit", "verify", "--audit-anchor-dir", anchors,
                                                     "--store", truncated, "--master-key-file", store.directory + "/master.key"])
        #expect(short.status == 1, "\(short.output)")
        #expect(short.output.contains("TRUNCATED") && short.output.contains("entries from 5 on are missing"), "\(short.output)")
        // The anchor inside the backup finds it too.
        let shortByBackup = try await TsunaguExecutable.run(["audit", "verify", "--backup", backupFile,
                                                             "--store", truncated, "--master-key-file", store.directory + "/master.key"])
        #expect(shortByBackup.status == 1)
        #expect(shortByBackup.output.contains("entries from 5 on are missing"), "\(shortByBackup.output)")

        // A copy with entry 3 edited.
        let edited = try await copy(store, named: "edited", sql: "UPDATE audit_log SET action = 'admin.nothing' WHERE seq = 3")
        let changed = try await TsunaguExecutable.run(["audit", "verify", "--audit-anchor-dir", anchors,
                                                       "--store", edited, "--master-key-file", store.directory + "/master.key"])
        #expect(changed.status == 1)
        #expect(changed.output.contains("TAMPERED") && changed.output.contains("entry 3"), "\(changed.output)")

        // A forged anchor (right shape, no key) is refused, not trusted.
        try Data(#"{"atMillis":1,"count":2,"head":"00","mac":"00","version":1}"#.utf8)
            .write(to: URL(fileURLWithPath: anchors + "/anchor-99999999999999999999-1.json"))
        let forged = try await TsunaguExecutable.run(["audit", "verify", "--audit-anchor-dir", anchors] + common)
        #expect(forged.status == 1)
        #expect(forged.output.contains("not signed"), "\(forged.output)")

        #expect(try await TsunaguExecutable.run(["audit", "verify", "--backup", store.directory + "/none"] + common).status == 2)
    }

    @Test func aNodeAnchorsTheChainAtStartAndAtShutdown() async throws {
        let store = try await OperatorStore.make("node-anchor")
        defer { store.remove() }
        let anchors = store.directory + "/anchors"
        let node = try await NodeProcess.start(["serve", "--listen", "127.0.0.1:0", "--node-id", "n_anchor",
                                                "--audit-anchor-dir", anchors] + store.common)
        var atStart: [String] = []
        for _ in 0..<50 where atStart.isEmpty {
            atStart = (try? FileManager.default.contentsOfDirectory(atPath: anchors)) ?? []
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(atStart.count == 1 && atStart[0].hasPrefix("anchor-00000000000000000002-"), "\(atStart)")
        node.stop()
        let afterStop = try FileManager.default.contentsOfDirectory(atPath: anchors)
        #expect(afterStop.count == 2, "\(afterStop)")
        let verified = try await TsunaguExecutable.run(["audit", "verify", "--audit-anchor-dir", anchors] + store.common)
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.output.contains("2 entries verified"))
    }

    /// A copy of the store (SQLite's backup API, WAL included) with `sql` applied to it.
    private func copy(_ store: OperatorStore, named name: String, sql: String) async throws -> String {
        let path = store.directory + "/\(name)/tsunagu.sqlite"
        try FileManager.default.createDirectory(atPath: store.directory + "/\(name)", withIntermediateDirectories: true)
        let script = """
            import sqlite3, sys
            src = sqlite3.connect(sys.argv[1]); dst = sqlite3.connect(sys.argv[2])
            src.backup(dst); dst.execute(sys.argv[3]); dst.commit()
            """
        let result = try await Tool.run("/usr/bin/env", ["python3", "-c", script, store.storePath, path, sql])
        #expect(result.status == 0, "\(result.output)")
        return path
    }
}
