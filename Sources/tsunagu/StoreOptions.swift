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

    /// Where this command keeps local files (logs, backups, the mail outbox): beside a SQLite
    /// store, or `./tsunagu-data` with a PostgreSQL store.
    var dataDirectory: String {
        isPostgres ? "./tsunagu-data" : (store as NSString).deletingLastPathComponent
    }

    func validate() throws {
        if isPostgres { _ = try location() }
    }

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
        "File with the 32-byte master key, base64 on one line (default: $TSUNAGU_MASTER_KEY_FILE or ./tsunagu-data/master.key).",
        valueName: "path"))
    var masterKeyFile: String?

    var keyPath: String {
        masterKeyFile ?? ProcessInfo.processInfo.environment["TSUNAGU_MASTER_KEY_FILE"]
            ?? "./tsunagu-data/master.key"
    }

    /// Loads the master key; with `create`, makes it (mode 0600) when absent and says so.
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
            return (try HubStore(location: location(), masterKey: key), key)
        } catch let error as ValidationError {
            throw error
        } catch let error as StoreError {
            throw CLIError("\(error) (store \(store), key \(keyPath))")
        } catch {
            throw CLIError("cannot open the store at \(store): \(Self.oneLine(error))")
        }
    }

    /// An error on one line, without the URL's query (it names only files, but keep lines short).
    static func oneLine(_ error: any Error) -> String {
        String(describing: error).split(separator: "\n").first.map(String.init) ?? "unknown error"
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
