import ArgumentParser
import Foundation
import TsunaguCrypto
import TsunaguStore

/// `tsunagu keys status|rotate-data-key|rotate-master-key` (docs/protocol.md §7; the procedure is
/// in docs/security.md, "Rotating keys").
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show and rotate the store's keys.",
        subcommands: [Status.self, RotateDataKey.self, RotateMasterKey.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the data keys (current, in use, retired), a rotation's progress and the stored secrets.")
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            let store = try storeOptions.openStoreAndKey(createKey: false, warnKeyPlacement: true).store
            let status = try await store.keyStatus()
            print("data keys:")
            for key in status.dataKeys {
                let state = key.isCurrent ? "current" : key.retiredAtMillis.map { "retired \(utc($0))" }
                    ?? "old (a rotation moves its values, then retires it)"
                print("  \(key.id)  \(state)  created \(utc(key.createdAtMillis))  values \(key.values)")
            }
            if let rotation = status.rotation {
                let place = rotation.finishedAtMillis.map { "finished \(utc($0))" }
                    ?? "under way: pass \(rotation.pass), \(rotation.table.map { "in \($0)" } ?? "between passes")"
                print("rotation to \(rotation.targetKey): started \(utc(rotation.startedAtMillis)), \(rotation.moved) values re-encrypted, \(place)")
            } else {
                print("rotation: none yet")
            }
            print("stored secrets (wrapped by the master key): \(status.storedSecrets.joined(separator: ", "))")
        }
    }

    struct RotateDataKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-data-key",
            abstract: "Make a new data key current and re-encrypt existing values to it while nodes keep serving.",
            discussion: """
                New writes use the new key at once (running nodes switch within a second). This \
                command then re-encrypts existing values in small transactions, printing its \
                progress, and retires the old key once no value uses it. If it is interrupted, \
                run it again: it resumes the rotation under way instead of starting another.
                """)
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Values re-encrypted per transaction (1 to 10000).") var batchSize = 200

        func validate() throws {
            guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size: 1 to 10000") }
        }

        func run() async throws {
            let store = try storeOptions.openStoreAndKey(createKey: false, warnKeyPlacement: true).store
            let (keyID, resumed) = try await store.beginDataKeyRotation()
            if resumed {
                print("resuming the rotation to data key \(keyID)")
            } else {
                try await store.audit(AuditRecord(organization: nil, actor: nil, action: "keys.rotate-data-key",
                                                  target: keyID, source: "cli"))
                print("data key \(keyID) is now current for new writes; re-encrypting existing values")
            }
            fflush(nil)
            var lastReport = ContinuousClock.now
            let clock = ContinuousClock()
            while true {
                let batchStart = clock.now
                let step = try await store.continueDataKeyRotation(batchSize: batchSize)
                switch step {
                case .batch(let table, _, let total, let pass):
                    // Each batch holds the store's one write lock; yielding it for as long again
                    // leaves nodes at least half of it (without, posts waited up to 1.3 s at p99).
                    try await Task.sleep(until: clock.now + (clock.now - batchStart), clock: clock)
                    if ContinuousClock.now - lastReport >= .seconds(1) {
                        print("  pass \(pass): \(total) values re-encrypted, now in \(table)")
                        fflush(nil)
                        lastReport = ContinuousClock.now
                    }
                case .waiting(let until):
                    let wait = max(until - Int64(Date().timeIntervalSince1970 * 1000), 50)
                    print("  pass complete; checking again after the \(wait) ms every node needs to switch keys")
                    fflush(nil)
                    try await Task.sleep(for: .milliseconds(wait))
                case .finished(let retired):
                    let status = try await store.keyStatus()
                    let moved = status.rotation?.moved ?? 0
                    print("rotation to \(keyID) finished: \(moved) values re-encrypted; retired: \(retired.isEmpty ? "none" : retired.joined(separator: ", "))")
                    return
                }
            }
        }
    }

    struct RotateMasterKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-master-key",
            abstract: "Rewrap the data keys and stored secrets under a new master key; afterwards FILE is the master key.",
            discussion: """
                FILE is created (mode 0600) with a new random key if it does not exist. Running \
                nodes keep working (they hold unwrapped keys); start nodes afterwards with \
                --master-key-file FILE. Keep the old key file as long as backups made before the \
                rotation are kept: a backup is sealed with the master key of its day.
                """)
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: ArgumentHelp("The new master key file (created if absent).", valueName: "file"))
        var newKeyFile: String

        func run() async throws {
            let (store, oldKey) = try storeOptions.openStoreAndKey(createKey: false, warnKeyPlacement: true)
            let newKey: MasterKey
            if FileManager.default.fileExists(atPath: newKeyFile) {
                try KeyFileChecks.checkOwnershipAndMode(newKeyFile)
                do { newKey = try MasterKey.load(from: newKeyFile) } catch {
                    throw CLIError("--new-key-file: cannot load \(newKeyFile): \(error)")
                }
            } else {
                do { newKey = try MasterKey.create(at: newKeyFile) } catch {
                    throw CLIError("--new-key-file: cannot create \(newKeyFile): \(error)")
                }
                print("created a new master key at \(newKeyFile) (mode 0600)")
            }
            guard newKey.key != oldKey.key else {
                throw CLIError("--new-key-file: \(newKeyFile) holds the current master key; give a new one")
            }
            KeyFileChecks.warnIfColocated(keyPath: newKeyFile, dataDirectories: [("store", storeOptions.dataDirectory)])
            let (dataKeys, secrets) = try await store.rewrapKeys(from: oldKey, to: newKey)
            // Proof before we tell the operator to switch: the new file opens the store.
            do {
                _ = try HubStore(path: storeOptions.store, masterKey: newKey)
            } catch {
                throw CLIError("the store does not open with \(newKeyFile) after rewrapping: \(error)")
            }
            try await store.audit(AuditRecord(organization: nil, actor: nil, action: "keys.rotate-master-key", source: "cli"))
            print("""
                rewrapped \(dataKeys) data key(s) and \(secrets) stored secret(s) under \(newKeyFile); \
                it is now the master key: start nodes with --master-key-file \(newKeyFile). Keep \(storeOptions.keyPath) \
                as long as backups made before now are kept (they are sealed with it).
                """)
        }
    }
}

/// An instant as ISO 8601 in UTC, for operator output.
private func utc(_ millis: Int64) -> String {
    Date(timeIntervalSince1970: Double(millis) / 1000).formatted(.iso8601)
}
