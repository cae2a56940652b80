import ArgumentParser
import Foundation
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// `--store`, `--store-password-file` and `--master-key-file`, which every command takes
/// (docs/protocol.md §7; docs/storage.md, "Selecting the store").
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("store"), help: ArgumentHelp(
        "The store: a SQLite path, or postgres://USER@HOST:PORT/DB[?sslmode=disable|require|verify-full&sslrootcert=FILE] (default: $TSUNAGU_STORE or ./tsunagu-data/tsunagu.sqlite).",
        valueName: "path-or-url"))
    var storeFlag: String?

    @Option(help: ArgumentHelp(
        "File holding the PostgreSQL password on its first line (default: $TSUNAGU_STORE_PASSWORD_FILE; else $PGPASSFILE, in libpq's format).",
        valueName: "path"))
    var storePasswordFile: String?

    /// The store as given: flag, then `TSUNAGU_STORE`, then the default SQLite path.
    var store: String {
        storeFlag ?? ProcessInfo.processInfo.environment["TSUNAGU_STORE"] ?? "./tsunagu-data/tsunagu.sqlite"
    }

    var isPostgres: Bool { PostgresStoreConfiguration.isPostgresURL(store) }

    /// The store's location; a PostgreSQL URL is parsed and its password read from the password
    /// file. Errors name the flag (exit status 2).
    func location() throws -> StoreLocation {
        guard isPostgres else { return .sqlite(path: store) }
        var configuration: PostgresStoreConfiguration
        do {
            configuration = try PostgresStoreConfiguration.parse(store)
        } catch let error as PostgresStoreConfiguration.InvalidURL {
            throw ValidationError("--store: \(error.description)")
        }
        let environment = ProcessInfo.processInfo.environment
        if let file = storePasswordFile ?? environment["TSUNAGU_STORE_PASSWORD_FILE"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("--store-password-file: cannot read \(file)")
            }
            guard let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, !line.isEmpty else {
                throw ValidationError("--store-password-file: \(file) is empty")
            }
            configuration.password = String(line)
        } else if let file = environment["PGPASSFILE"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("PGPASSFILE: cannot read \(file)")
            }
            configuration.password = configuration.password(fromPassFile: text)
        }
        return .postgres(configuration)
    }

    @Option(help: ArgumentHelp(
        "File with the 32-byte master key, base64 on one line (default: $TSUNAGU_MASTER_KEY_FILE, else $CREDENTIALS_DIRECTORY/master.key under systemd, else ./tsunagu-data/master.key).",
        valueName: "path"))
    var masterKeyFile: String?

    var keyPath: String {
        masterKeyFile ?? ProcessInfo.processInfo.environment["TSUNAGU_MASTER_KEY_FILE"] ?? Self.credentialKeyPath
            ?? "./tsunagu-data/master.key"
    }

    /// Under systemd, `LoadCredential=master.key:…` hands the key over in a private directory
    /// (cluster/systemd/): used when no key file is named.
    static var credentialKeyPath: String? {
        guard let directory = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else { return nil }
        let path = directory + "/master.key"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// Whether `--store` names a database server rather than a file (left as given).
    var storeIsURL: Bool { store.contains("://") }

    /// Where this command keeps local files (logs, backups, the mail outbox): beside a SQLite
    /// store, or `./tsunagu-data` with a PostgreSQL store.
    var dataDirectory: String {
        isPostgres ? PathArgument.directory(of: "./tsunagu-data/.") : PathArgument.directory(of: store)
    }

    /// Both paths become absolute here (docs/operations.md), before any command uses them; a
    /// PostgreSQL URL is parsed and its password file read (errors name the flag).
    mutating func validate() throws {
        if isPostgres {
            _ = try location()
        } else if storeIsURL {
            throw ValidationError("--store: a SQLite path or a postgres://USER@HOST:PORT/DB URL")
        } else {
            storeFlag = try PathArgument.resolve(store, flag: "--store")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: store, isDirectory: &isDirectory), isDirectory.boolValue {
                throw ValidationError("--store: \(store) is a directory; name the store file in it (e.g. \(store)/tsunagu.sqlite)")
            }
        }
        let flag = masterKeyFile == nil && ProcessInfo.processInfo.environment["TSUNAGU_MASTER_KEY_FILE"] != nil
            ? "TSUNAGU_MASTER_KEY_FILE" : "--master-key-file"
        masterKeyFile = try PathArgument.resolve(keyPath, flag: flag)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: keyPath, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ValidationError("\(flag): \(keyPath) is a directory, not a key file")
        }
    }

    /// Only the commands that make a hub (`up`, `admin bootstrap`) create a store; every other
    /// command refuses a path where there is none, instead of running on a new empty one.
    func requireExistingStore() throws {
        guard !storeIsURL, !FileManager.default.fileExists(atPath: store) else { return }
        throw CLIError("--store: no store at \(store); create one with `tsunagu up` or `tsunagu admin bootstrap`")
    }

    /// Loads the master key; with `create`, makes it (mode 0600) when absent and says so.
    /// Refuses a key file that others may read or write or that another user owns (KeyFileChecks).
    func loadKey(create: Bool) throws -> MasterKey {
        if create && !FileManager.default.fileExists(atPath: keyPath) {
            let key = try createKey()
            announceNewKey()
            return key
        }
        try KeyFileChecks.checkOwnershipAndMode(keyPath)
        do {
            return try MasterKey.load(from: keyPath)
        } catch {
            throw CLIError("cannot load the master key: \(oneLine(error))")
        }
    }

    private func createKey() throws -> MasterKey {
        do {
            return try MasterKey.create(at: keyPath)
        } catch {
            throw CLIError("cannot create the master key: \(oneLine(error))")
        }
    }

    private func announceNewKey() {
        FileHandle.standardError.write(Data(
            "tsunagu: created a new master key at \(keyPath) (mode 0600); keep it off the store's disk in production\n".utf8))
    }

    /// Warns when the key file sits in the store's directory tree (KeyFileChecks).
    func warnKeyPlacement() {
        if !storeIsURL { KeyFileChecks.warnIfColocated(keyPath: keyPath, dataDirectories: [("store", dataDirectory)]) }
    }

    func openStore(createKey: Bool) throws -> HubStore {
        try openStoreAndKey(createKey: createKey).store
    }

    /// With `createKey` (the commands that make a hub) a missing key and store are created;
    /// otherwise both must exist. A key made here is kept only if the store then opens: a
    /// failed start leaves nothing behind, and says so in one line.
    func openStoreAndKey(createKey: Bool, warnKeyPlacement: Bool = false) throws -> (store: HubStore, key: MasterKey) {
        if !createKey { try requireExistingStore() }
        let makesKey = createKey && !FileManager.default.fileExists(atPath: keyPath)
        let key = makesKey ? try self.createKey() : try loadKey(create: false)
        do {
            let opened = try HubStore(location: location(), masterKey: key)
            if makesKey { announceNewKey() }
            // After the open, so that a failure stays the one line it is. Said by the commands that
            // make a hub or handle keys and backups (`warnKeyPlacement`), not by every node and
            // utility run, whose output scripts read.
            if createKey || warnKeyPlacement { self.warnKeyPlacement() }
            return (opened, key)
        } catch let error as ValidationError {
            if makesKey { unlink(keyPath) }
            throw error
        } catch {
            if makesKey { unlink(keyPath) }
            if let error = error as? StoreError { throw CLIError("\(error) (store \(store), key \(keyPath))") }
            throw CLIError("cannot open the store at \(store): \(oneLine(error))")
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
