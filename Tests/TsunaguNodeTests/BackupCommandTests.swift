import Foundation
import Testing

/// `tsunagu backup` / `tsunagu restore` as docs/protocol.md §7 lists them, run as the real executable.
@Suite struct BackupCommandTests {
    @Test func backupThenRestoreBringsTheStoreBackAndRefusesWhatItShould() async throws {
        let store = try await OperatorStore.make("backup")
        defer { store.remove() }
        let directory = store.directory
        let common = store.common

        let backup = try await TsunaguExecutable.run(["backup"] + common)
        #expect(backup.status == 0, "\(backup.output)")
        let backups = directory + "/data/backups"
        let files = try FileManager.default.contentsOfDirectory(atPath: backups)
        #expect(files.count == 1 && files[0].hasPrefix("tsunagu-") && files[0].hasSuffix(".backup"), "\(files)")
        let file = backups + "/" + files[0]
        #expect(backup.output.contains(file))

        // A change after the backup (the audit log counts it).
        #expect(try await TsunaguExecutable.run(["admin", "add-user", "--email", "c@o.test", "--name", "C", "--password-stdin"] + common,
                                                stdin: "long enough password").status == 0)
        // bootstrap, add-user, the backup itself, add-user
        #expect(try await TsunaguExecutable.run(["audit", "verify"] + common).output.contains("4 entries verified"))

        let withoutForce = try await TsunaguExecutable.run(["restore", "--from", file] + common)
        #expect(withoutForce.status == 1)
        #expect(withoutForce.output.contains("--force"))

        // Another master key cannot open it, and says so in one line.
        #expect(try await TsunaguExecutable.run(["admin", "bootstrap", "--org", "X", "--email", "x@x.test", "--password-stdin",
                                                 "--store", directory + "/x/tsunagu.sqlite", "--master-key-file", directory + "/x.key"],
                                                stdin: "long enough password").status == 0)
        let wrongKey = try await TsunaguExecutable.run(["restore", "--from", file, "--store", directory + "/y/tsunagu.sqlite",
                                                        "--master-key-file", directory + "/x.key"])
        #expect(wrongKey.status == 1)
        #expect(wrongKey.output.contains("does not open this backup"))

        let restored = try await TsunaguExecutable.run(["restore", "--from", file, "--force"] + common)
        #expect(restored.status == 0, "\(restored.output)")
        // The backup's three entries, then the restore's own.
        let verified = try await TsunaguExecutable.run(["audit", "verify"] + common)
        #expect(verified.output.contains("4 entries verified"), "\(verified.output)")

        // Bad arguments: a one-line error, exit 2.
        #expect(try await TsunaguExecutable.run(["restore"] + common).status == 2)
        let missing = try await TsunaguExecutable.run(["restore", "--from", directory + "/nothing.backup"] + common)
        #expect(missing.status == 2)
        #expect(missing.output.contains("no such file"))
    }
}
