import ArgumentParser
import Foundation
import TsunaguStore

/// `tsunagu store migrate --from SQLITE_PATH --to POSTGRES_URL` (docs/protocol.md §7;
/// docs/storage.md, "Moving a hub to PostgreSQL").
struct Store: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a hub between stores.", subcommands: [Migrate.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a whole hub from a SQLite store into an empty PostgreSQL database, then verify the copy.",
            discussion: """
                Ciphertexts are copied as they are, with the audit chain, timeline heads and \
                every seq. The copy is verified (row counts, the audit chain, a sample of events \
                decrypted on both sides) before this command reports success. Stop every node \
                of the source first; the target must be empty.
                """)

        @Option(help: ArgumentHelp("The SQLite store to copy.", valueName: "path")) var from: String
        @Option(help: ArgumentHelp("The PostgreSQL store to fill: postgres://USER@HOST:PORT/DB[?sslmode=…].",
                                   valueName: "url"))
        var to: String
        @OptionGroup var keyOptions: MigrateKeyOptions

        func validate() throws {
            guard !PostgresStoreConfiguration.isPostgresURL(from) else {
                throw ValidationError("--from: a SQLite store path (the source), not a URL")
            }
            guard FileManager.default.fileExists(atPath: from) else { throw ValidationError("--from: no such file: \(from)") }
            guard PostgresStoreConfiguration.isPostgresURL(to) else {
                throw ValidationError("--to: a postgres://USER@HOST:PORT/DB URL")
            }
        }

        func run() async throws {
            var target = StoreOptions()
            target.storeFlag = to
            target.storePasswordFile = keyOptions.storePasswordFile
            target.masterKeyFile = keyOptions.masterKeyFile
            let location = try target.location()
            let key = try target.loadKey(create: false)
            let source = StoreLocation.sqlite(path: from)
            let live = try await HubStore(location: source, masterKey: key).liveNodes()
            guard live.isEmpty else {
                throw CLIError("nodes are running on \(from) (\(live.map(\.id.rawValue).joined(separator: ", "))); stop them first")
            }
            do {
                let report = try await StoreCopy.copy(from: source, to: location, masterKey: key)
                print("copied \(report.totalRows) rows in \(report.rows.count) tables; verified: row counts equal, "
                      + "audit chain of \(report.auditEntries) entries intact, \(report.sampledEvents) sampled events decrypt alike")
            } catch let failure as StoreCopy.Failure {
                throw CLIError("store migrate: \(failure.description)")
            } catch let error as StoreError {
                throw CLIError("store migrate: \(error)")
            } catch {
                throw CLIError("store migrate: \(oneLine(error))")
            }
        }
    }
}

/// The key and password flags of `store migrate` (its stores are `--from` and `--to`).
struct MigrateKeyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("File with the master key (default: $TSUNAGU_MASTER_KEY_FILE or ./tsunagu-data/master.key).",
                               valueName: "path"))
    var masterKeyFile: String?
    @Option(help: ArgumentHelp("File holding the PostgreSQL password (default: $TSUNAGU_STORE_PASSWORD_FILE, else $PGPASSFILE).",
                               valueName: "path"))
    var storePasswordFile: String?
}
