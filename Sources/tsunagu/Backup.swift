import ArgumentParser
import Foundation
import ServiceLifecycle
import TsunaguCrypto
import TsunaguStore

/// `tsunagu backup`: today's encrypted generation of the store, 8 daily generations kept
/// (docs/protocol.md §7, white paper 8.13). Nodes keep running meanwhile.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an encrypted backup of the store (one file per day, the newest \(StoreBackup.generations) kept).",
        discussion: """
            The backup is a consistent snapshot taken while nodes keep running, sealed with \
            AES-256-GCM under a key derived from the master key; restoring it needs the same \
            master key. A second backup on the same day (in --time-zone, the zone the logs use) replaces that day's file.
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: ArgumentHelp("Directory of the generations (default: beside the store, backups/).", valueName: "dir"))
    var to: String?
    @Option(help: ArgumentHelp("Also write the audit anchor the backup carries into this directory.", valueName: "dir"))
    var auditAnchorDir: String?
    @Option(help: "Time zone whose calendar day names the file (IANA name), as in the logs.") var timeZone = "Asia/Tokyo"

    mutating func validate() throws {
        if let to { self.to = try PathArgument.directoryPath(to, flag: "--to") }
        if let auditAnchorDir { self.auditAnchorDir = try PathArgument.directoryPath(auditAnchorDir, flag: "--audit-anchor-dir") }
        guard NodeOptions.isKnownZone(timeZone) else { throw ValidationError("--time-zone: unknown zone '\(timeZone)' (an IANA name such as Asia/Tokyo or UTC)") }
    }

    func run() async throws {
        let (store, key) = try storeOptions.openStoreAndKey(createKey: false, warnKeyPlacement: true)
        let directory = to ?? storeOptions.dataDirectory + "/backups"
        if let to {  // the default, beside the store, was covered by the store's check
            KeyFileChecks.warnIfColocated(keyPath: storeOptions.keyPath, dataDirectories: [("backups", to)])
        }
        let file: String
        do {
            try await OperatorAudit.record(store, "operator.backup")
            file = try await AnchoredBackup.write(store, masterKey: key, into: directory,
                                                  anchorDirectory: auditAnchorDir.map(AuditAnchorDirectory.init),
                                                  timeZone: TimeZone(identifier: timeZone)!)
        } catch {
            throw CLIError("backup into \(directory) failed: \(oneLine(error))")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        let kept = (try? StoreBackup.generations(in: directory).count) ?? 0
        print("\(file) (\(size) bytes); \(kept) generation(s) in \(directory)")
    }
}

/// `tsunagu restore --from FILE`: puts a backup in place of the store, after checking it.
struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the store with an encrypted backup (stop every node first).",
        discussion: """
            The backup is decrypted with the master key and checked (SQLite integrity, its data \
            keys open) before the store is touched. An existing store is replaced only with \
            --force, and never while nodes are heartbeating into it. Clients that resume with a \
            `since` beyond a timeline's restored head get `reset` (docs/protocol.md §2).
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: ArgumentHelp("The backup file to restore.", valueName: "file")) var from: String
    @Flag(help: "Replace an existing store.") var force = false

    mutating func validate() throws {
        from = try PathArgument.existingFile(from, flag: "--from")
    }

    func run() async throws {
        let key = try storeOptions.loadKey(create: false)
        if case .postgres(let target) = try storeOptions.location() {
            // Into an empty database only: replacing a live PostgreSQL store is the job of
            // PostgreSQL's own point-in-time recovery (docs/storage.md).
            do {
                let report = try await StoreBackup.restore(from: from, masterKey: key, into: target,
                                                           workDirectory: storeOptions.dataDirectory)
                print("restored \(from) into the PostgreSQL store: \(report.totalRows) rows, audit chain of \(report.auditEntries) entries verified")
            } catch let failure as StoreBackup.Failure {
                throw CLIError(failure.description)
            } catch let failure as StoreCopy.Failure {
                throw CLIError("restore refused: \(failure.description)")
            } catch {
                throw CLIError("restore failed: \(oneLine(error))")
            }
            return
        }
        do {
            try await StoreBackup.restore(from: from, masterKey: key, to: storeOptions.store, replace: force)
        } catch let failure as StoreBackup.Failure {
            throw CLIError(failure.description)
        } catch {
            throw CLIError("restore failed: \(oneLine(error))")
        }
        // The restored log records the restore (the log it replaced is gone with the old store).
        let restored = try storeOptions.openStore(createKey: false)
        try await OperatorAudit.record(restored, "operator.restore", details: (from as NSString).lastPathComponent)
        print("restored \(from) to \(storeOptions.store)")
    }
}

/// `tsunagu up`'s daily backups: today's generation when it is missing, checked at start and then
/// every hour, so a hub left running keeps its 8 daily generations without cron. Stops when `up`
/// shuts down.
struct DailyBackups: Service {
    let store: HubStore
    let key: MasterKey
    let directory: String
    let anchorDirectory: AuditAnchorDirectory?
    let timeZone: TimeZone

    func run() async throws {
        await cancelWhenGracefulShutdown { await keepToday() }
    }

    private func keepToday() async {
        while !Task.isCancelled {
            let today = directory + "/" + StoreBackup.fileName(for: Date(), timeZone: timeZone)
            if !FileManager.default.fileExists(atPath: today) {
                do {
                    let file = try await AnchoredBackup.write(store, masterKey: key, into: directory,
                                                              anchorDirectory: anchorDirectory, timeZone: timeZone)
                    print("daily backup written: \(file)")
                } catch {
                    print("daily backup failed: \(oneLine(error))")
                }
                fflush(nil)
            }
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}

/// A backup that carries the audit chain's signed anchor (taken just before the snapshot, so the
/// backup holds every entry it counts), also written to the anchor directory when one is given.
enum AnchoredBackup {
    static func write(_ store: HubStore, masterKey: MasterKey, into directory: String,
                      anchorDirectory: AuditAnchorDirectory?, timeZone: TimeZone) async throws -> String {
        let anchor = try await store.auditAnchor(key: store.auditAnchorKey)
        if let anchorDirectory { try anchorDirectory.write(anchor) }
        return try StoreBackup.backup(store, sealingKey: StoreBackup.sealingKey(masterKey), auditAnchor: anchor,
                                      into: directory, timeZone: timeZone)
    }
}
