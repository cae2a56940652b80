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
            master key. A second backup on the same (UTC) day replaces that day's file.
            """)
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: ArgumentHelp("Directory of the generations (default: beside the store, backups/).", valueName: "dir"))
    var to: String?

    func run() async throws {
        let (store, key) = try storeOptions.openStoreAndKey(createKey: false)
        let directory = to ?? (storeOptions.dataDirectory as NSString)
            .appendingPathComponent("backups")
        let file: String
        do {
            file = try StoreBackup.backup(store, masterKey: key, into: directory)
        } catch {
            throw CLIError("backup failed: \(error)")
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

    func validate() throws {
        guard FileManager.default.fileExists(atPath: from) else {
            throw ValidationError("--from: no such file: \(from)")
        }
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
                throw CLIError("restore failed: \(StoreOptions.oneLine(error))")
            }
            return
        }
        do {
            try await StoreBackup.restore(from: from, masterKey: key, to: storeOptions.store, replace: force)
        } catch let failure as StoreBackup.Failure {
            throw CLIError(failure.description)
        } catch {
            throw CLIError("restore failed: \(error)")
        }
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

    func run() async throws {
        await cancelWhenGracefulShutdown { await keepToday() }
    }

    private func keepToday() async {
        while !Task.isCancelled {
            let today = (directory as NSString).appendingPathComponent(StoreBackup.fileName(for: Date()))
            if !FileManager.default.fileExists(atPath: today) {
                do {
                    let file = try StoreBackup.backup(store, masterKey: key, into: directory)
                    print("daily backup written: \(file)")
                } catch {
                    print("daily backup failed: \(error)")
                }
                fflush(nil)
            }
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}
