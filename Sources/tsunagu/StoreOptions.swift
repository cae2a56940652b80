import ArgumentParser
import Foundation
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// `--store` and `--master-key-file`, which every command takes (docs/protocol.md §7).
struct StoreOptions: ParsableArguments {
    @Option(help: "Path of the SQLite store.")
    var store = "./tsunagu-data/tsunagu.sqlite"

    @Option(help: ArgumentHelp(
        "File with the 32-byte master key, base64 on one line (default: $TSUNAGU_MASTER_KEY_FILE or ./tsunagu-data/master.key).",
        valueName: "path"))
    var masterKeyFile: String?

    var keyPath: String {
        masterKeyFile ?? ProcessInfo.processInfo.environment["TSUNAGU_MASTER_KEY_FILE"]
            ?? "./tsunagu-data/master.key"
    }

    /// The directory of the store (where `up` also puts backups, logs and the outbox).
    var storeDirectory: String {
        let directory = (store as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }

    /// Loads the master key; with `create`, makes it (mode 0600) when absent and says so.
    /// Refuses a key file that others may read or write or that another user owns (KeyFileChecks).
    func loadKey(create: Bool) throws -> MasterKey {
        if create && !FileManager.default.fileExists(atPath: keyPath) {
            do {
                let key = try MasterKey.create(at: keyPath)
                FileHandle.standardError.write(Data(
                    "tsunagu: created a new master key at \(keyPath) (mode 0600); keep it off the store's disk in production\n".utf8))
                return key
            } catch {
                throw CLIError("cannot create the master key: \(error)")
            }
        }
        try KeyFileChecks.checkOwnershipAndMode(keyPath)
        do {
            return try MasterKey.load(from: keyPath)
        } catch {
            throw CLIError("cannot load the master key: \(error)")
        }
    }

    func openStore(createKey: Bool) throws -> HubStore {
        try openStoreAndKey(createKey: createKey).store
    }

    func openStoreAndKey(createKey: Bool) throws -> (store: HubStore, key: MasterKey) {
        let key = try loadKey(create: createKey)
        do {
            let opened = try HubStore(path: store, masterKey: key)
            // After the open, so that a failure stays the one line it is.
            KeyFileChecks.warnIfColocated(keyPath: keyPath, dataDirectories: [("store", storeDirectory)])
            return (opened, key)
        } catch let error as StoreError {
            throw CLIError("\(error) (store \(store), key \(keyPath))")
        } catch {
            throw CLIError("cannot open the store at \(store): \(error)")
        }
    }
}

/// Reads a password from standard input (one line), for `--password-stdin`.
func readPasswordFromStandardInput() throws -> String {
    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        throw CLIError("--password-stdin: no password on standard input")
    }
    return line
}

/// The default password policy (organizations may tighten theirs through the admin API).
func checkPassword(_ password: String, email: String) throws {
    if let problem = PasswordPolicy().problem(with: password, email: email) { throw CLIError(problem) }
}
