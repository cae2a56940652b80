import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TsunaguStore

/// Test support, used only by the test targets (Package.swift).
///
/// A throwaway PostgreSQL server for the tests of this process: `initdb` into a temporary
/// directory, run as the unprivileged `postgres` user (PostgreSQL refuses to run as root), on a
/// free loopback port, with `fsync=on` and `synchronous_commit=on` as in production. Started on
/// first use, stopped (fast shutdown) and removed when the test process exits. Each test gets its
/// own database (`makeDatabase`).
public final class PostgresTestServer: @unchecked Sendable {
    public let port: Int
    /// The address it listens on (loopback, or a test host's address in a network namespace).
    public let host: String
    /// The command that runs the server where it must run (another network namespace), or none.
    private let launcher: [String]
    public let directory: String
    public let binDirectory: String
    private var server = Process()
    private let asRoot = getuid() == 0

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// The server of this process; the error says why none could be started (no PostgreSQL
    /// installed: `.ci/run` installs Debian's `postgresql`).
    public static let shared: Result<PostgresTestServer, Unavailable> = {
        do {
            let server = try PostgresTestServer()
            atexit { PostgresTestServer.stopShared() }
            return .success(server)
        } catch let error as Unavailable {
            return .failure(error)
        } catch {
            return .failure(Unavailable(description: "\(error)"))
        }
    }()

    private static func stopShared() {
        if case .success(let server) = shared { server.stop() }
    }

    /// A server of its own (a test that restarts it); `stop()` it at the end. `host` and
    /// `launcher` put it on another test host: the launcher runs the server's command there
    /// (`cluster/netns.sh exec HOST`, which execs, so signals reach PostgreSQL).
    public init(host: String = "127.0.0.1", launcher: [String] = []) throws {
        self.host = host
        self.launcher = launcher
        let bins = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = bins.compactMap(Int.init).max() else {
            throw Unavailable(description: "no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
        }
        binDirectory = "/usr/lib/postgresql/\(version)/bin"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        if asRoot { try Self.run("/bin/chown", ["postgres:postgres", directory]) }
        try Self.run(binDirectory + "/initdb", ["-D", directory + "/data", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"],
                     asPostgres: asRoot)
        if host != "127.0.0.1" {
            // Clients on other test hosts (namespaces behind a bridge) connect from their own
            // addresses; initdb's `-A trust` covers loopback only. A throwaway test server.
            let rules = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/data/pg_hba.conf"))
            try rules.seekToEnd()
            try rules.write(contentsOf: Data("host all all 0.0.0.0/0 trust\n".utf8))
            try rules.close()
        }
        port = try FreePort.loopback()
        try startServer()
    }

    public var dataDirectory: String { directory + "/data" }

    /// Starts the server on its data directory and waits until it accepts connections.
    public func startServer() throws {
        server = Process()
        let arguments = ["-D", dataDirectory, "-p", String(port), "-k", directory, "-c", "listen_addresses=\(host)",
                         "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=400",
                         "-c", "shared_buffers=32MB", "-c", "log_min_messages=fatal"]
        let command = launcher + (asRoot ? ["/usr/bin/setpriv"] + Self.asPostgresUser : []) + [binDirectory + "/postgres"]
        server.executableURL = URL(fileURLWithPath: command[0])
        server.arguments = Array(command.dropFirst()) + arguments
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        for _ in 0..<300 {
            if (try? Self.run(binDirectory + "/pg_isready", ["-h", host, "-p", String(port), "-q"])) != nil { return }
            usleep(100_000)
        }
        throw Unavailable(description: "the test PostgreSQL did not start on port \(port)")
    }

    /// Fast shutdown (SIGINT: open transactions are rolled back, committed ones are on disk);
    /// the data directory stays for `startServer`.
    public func stopServer() {
        guard server.isRunning else { return }
        kill(server.processIdentifier, SIGINT)
        server.waitUntilExit()
    }

    /// `setpriv` runs the program itself as `postgres` (no child process in between, so signals
    /// sent to the process reach PostgreSQL).
    static let asPostgresUser = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]

    /// A new empty database's store URL, as an operator would pass it to `--store`.
    public func makeDatabaseURL() throws -> String {
        let configuration = try makeDatabase()
        return "postgres://\(configuration.user)@\(host):\(port)/\(configuration.database)?sslmode=disable"
    }

    /// A new empty database; answers its store configuration.
    public func makeDatabase() throws -> PostgresStoreConfiguration {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try Self.run(binDirectory + "/createdb", ["-h", host, "-p", String(port), "-U", "postgres", name])
        return PostgresStoreConfiguration(host: host, port: port, user: "postgres", database: name)
    }

    /// Runs SQL as the superuser (tests that tamper with stored rows, or inspect them).
    public func psql(_ database: String, _ sql: String) throws -> String {
        try Self.run("/usr/bin/psql", ["-h", host, "-p", String(port), "-U", "postgres", "-d", database,
                                       "-v", "ON_ERROR_STOP=1", "-tAc", sql])
    }

    /// Fast shutdown (SIGINT), then the directory goes. A restart test calls `restart()` instead.
    public func stop() {
        stopServer()
        try? FileManager.default.removeItem(atPath: directory)
    }

    @discardableResult
    public static func run(_ tool: String, _ arguments: [String], asPostgres: Bool = false) throws -> String {
        let process = Process()
        if asPostgres {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = asPostgresUser + [tool] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
        }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Unavailable(description: "\((tool as NSString).lastPathComponent) failed: \(text.prefix(300))")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
