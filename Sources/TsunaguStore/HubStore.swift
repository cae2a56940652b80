import Foundation
import Synchronization
import GRDB
import TsunaguCore
import TsunaguCrypto

/// Where a store is: a SQLite file, or a PostgreSQL database.
public enum StoreLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresStoreConfiguration)
}

/// The database under a store (docs/storage.md, "Two backends").
enum StoreBackend: Sendable {
    case sqlite(DatabasePool)
    case postgres(PostgresBackend)

    func close() {
        switch self {
        case .sqlite(let pool): try? pool.close()
        case .postgres(let postgres): postgres.shutdown()
        }
    }

    /// Runs `body` in a write transaction on the calling thread.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        switch self {
        case .sqlite(let pool):
            return try pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(SQLiteExecutor(db))
                    return .commit
                }
                return result!
            }
        case .postgres(let postgres):
            return try postgres.transaction(.write) { try body($0) }
        }
    }

    /// Runs `body` in a read-only snapshot on the calling thread.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        switch self {
        case .sqlite(let pool): return try pool.read { db in try body(SQLiteExecutor(db)) }
        case .postgres(let postgres): return try postgres.transaction(.read) { try body($0) }
        }
    }
}

/// The shared store: every record of the hub, in one SQLite database in WAL mode written by the
/// node processes of one host, or in one PostgreSQL database written by nodes on many hosts. It
/// owns the database connections and the field cipher and exposes intent-named operations;
/// invariants (dense per-timeline seq, idempotent posts, membership checks for writes) are enforced
/// inside the transactions that commit them. The SQL is written once and runs on either backend
/// through `StoreExecutor`.
public final class HubStore: Sendable {
    let backend: StoreBackend
    /// The data keys: seals with the current one, opens with any held (see `KeyRing`).
    let cipher: KeyRing
    let blindIndex: BlindIndex
    /// Keys the audit log's chain; a stored secret, wrapped by the master key (HubStore+Keys.swift).
    let auditKey: SymmetricKey
    /// Authenticates links between nodes; a stored secret like `auditKey`, so every node holding
    /// a master key that opens this store has it, and a master-key rotation does not change it.
    public let peerLinkKey: SymmetricKey
    /// Signs audit anchors (docs/security.md, "Audit log"): never the chain key, so whoever can
    /// edit the chain cannot forge an anchor; stored wrapped, so anchors survive a master-key rotation.
    public let auditAnchorKey: SymmetricKey
    let names = NameCache()
    /// Batches the frequent event writes into shared transactions (one WAL fsync per batch).
    let groupCommit: GroupCommitter
    public let location: StoreLocation

    /// Opens (creating and migrating if needed) the SQLite store at `path`.
    public convenience init(path: String, masterKey: MasterKey) throws {
        try self.init(location: .sqlite(path: path), masterKey: masterKey)
    }

    /// Opens (creating and migrating if needed) the store at `location`, unlocking its data keys
    /// with `masterKey`. Throws `StoreError.masterKeyMismatch` when the key does not open them.
    public init(location: StoreLocation, masterKey: MasterKey) throws {
        self.location = location
        let (backend, loaded) = try Self.retryingBusyOpen {
            let backend = try Self.openBackend(location)
            do {
                return (backend, try Self.loadKeySet(backend, masterKey: masterKey))
            } catch {
                backend.close()
                throw error
            }
        }
        self.backend = backend
        switch backend {
        case .sqlite(let pool): groupCommit = GroupCommitter(writer: pool)
        case .postgres(let postgres): groupCommit = GroupCommitter(lane: .postgres(postgres))
        }
        cipher = loaded.ring
        blindIndex = BlindIndex(key: loaded.secrets["blind-index"]!)
        auditKey = loaded.secrets["audit-chain"]!
        peerLinkKey = loaded.secrets["peer-link"]!
        auditAnchorKey = loaded.secrets["audit-anchor"]!
        watchCurrentDataKey()
    }

    /// How often a process re-reads which data key is current, so that after a rotation made by
    /// another process its new writes use the new key within this time.
    static let keyRefreshInterval: Duration = .seconds(1)

    /// Re-reads the data keys every `keyRefreshInterval` for as long as the store is alive.
    private func watchCurrentDataKey() {
        Task.detached(priority: .utility) { [weak self] in
            while true {
                try? await Task.sleep(for: Self.keyRefreshInterval)
                guard let self else { return }
                try? await self.refreshDataKeys()
            }
        }
    }

    /// Brings this process's data keys in line with the store (see `KeyRing.apply`).
    func refreshDataKeys() async throws {
        let rows = try await read { try KeyRing.storedKeys($0) }
        cipher.apply(rows)
    }

    /// Closes the database connections now (the deinit does it later, on another thread); for
    /// whoever must release them at a known moment. The store is unusable afterwards.
    public func close() { backend.close() }

    deinit {
        // The last reference can go on one of the backend's own threads (an operation's closure
        // held it), where shutting those threads down would wait for itself: shut down elsewhere.
        let backend = self.backend
        DispatchQueue.global().async { backend.close() }
    }

    /// Opens the database at `location` and applies missing migrations; no keys are read.
    static func openBackend(_ location: StoreLocation) throws -> StoreBackend {
        switch location {
        case .sqlite(let path):
            return .sqlite(try Self.openSQLite(path: path))
        case .postgres(let configuration):
            let postgres = try PostgresBackend(configuration: configuration)
            do {
                try StoreSchema.migrator.migrate(postgres)
            } catch {
                postgres.shutdown()
                throw error
            }
            return .postgres(postgres)
        }
    }

    /// The SQLite database pool (tests and the SQLite backup read it directly).
    var pool: DatabasePool {
        guard case .sqlite(let pool) = backend else { preconditionFailure("not a SQLite store") }
        return pool
    }

    var dialect: SQLDialect {
        switch backend {
        case .sqlite: .sqlite
        case .postgres: .postgres
        }
    }

    private static func openSQLite(path: String) throws -> DatabasePool {
        var config = Configuration()
        // Several node processes write to one file: wait for the lock instead of failing at once.
        config.busyMode = .callback(Self.waitForLock)
        config.prepareDatabase { db in
            // docs/architecture.md: an event is acknowledged only once durably committed; FULL fsyncs the WAL
            // on every commit.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        let pool = try DatabasePool(path: path, configuration: config)
        // GRDB switches the writer to synchronous=NORMAL when it enables WAL, after
        // prepareDatabase has run; set FULL again on the one writer connection.
        try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        try Self.migrate(pool)
        return pool
    }

    /// Switching a new SQLite file to WAL needs an exclusive lock, and the first connections to it
    /// (GRDB checks each with a read of `sqlite_master`) can meet another opener's WAL switch or
    /// recovery: SQLite answers SQLITE_BUSY there without calling the busy handler (deadlock
    /// avoidance). Several nodes starting at once on a new store hit that, so the whole open is
    /// tried again, for up to 10 s (on a loaded machine the opener that switches the file to WAL
    /// can hold its lock for seconds).
    private static func retryingBusyOpen<T>(_ open: () throws -> T) throws -> T {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                return try open()
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && ContinuousClock.now < deadline {
                usleep(20_000)
            }
        }
    }

    /// SQLite's own busy timeout sleeps 1, 2, 5 … up to 100 ms between retries. A writer holds
    /// the lock for one commit (a few ms, one fsync), so with several node processes taking turns
    /// those sleeps, not the commits, set the pace. Retry every 0.2 ms for the first 10 ms, then
    /// every 2 ms, giving up after about 15 s as before.
    private static let waitForLock: GRDB.Database.BusyCallback = { tries in
        if tries < 50 {
            usleep(200)
            return true
        }
        guard tries < 50 + 7_500 else { return false }
        usleep(2_000)
        return true
    }

    /// Two processes may open a new store at once; the loser of the race to migrate sees the
    /// winner's schema on its retry. With several openers, a loser can fail once per migration the others apply (it read the
    /// applied list before the winner committed), so it retries until every migration is applied
    /// rather than once: each failure means another process made progress.
    private static func migrate(_ pool: DatabasePool) throws {
        let migrator = StoreSchema.migrator.grdbMigrator
        for attempt in 1... {
            do {
                try migrator.migrate(pool)
                return
            } catch {
                if try pool.read({ try migrator.hasCompletedMigrations($0) }) { return }
                if attempt >= 20 { throw error }
                usleep(20_000)
            }
        }
    }

    /// The database file and its WAL/shm companions (for tests that inspect what is at rest).
    public var databasePath: String { pool.path }

    // MARK: transactions over the seam

    /// A read from one consistent snapshot (a WAL snapshot on SQLite, REPEATABLE READ on PostgreSQL).
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        switch backend {
        case .sqlite(let pool):
            return try await pool.read { db in try body(SQLiteExecutor(db)) }
        case .postgres(let postgres):
            return try await postgres.threads.runIfActive { try postgres.transaction(.read) { try body($0) } }
        }
    }

    /// The same on the calling thread.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        switch backend {
        case .sqlite(let pool):
            return try pool.read { db in try body(SQLiteExecutor(db)) }
        case .postgres(let postgres):
            return try postgres.transaction(.read) { try body($0) }
        }
    }

    /// Runs `body` in a write transaction. On SQLite it is IMMEDIATE: the write lock is taken at
    /// BEGIN, so reads made inside (the current head, a membership) cannot be invalidated by another
    /// process before commit. On PostgreSQL it is READ COMMITTED, and the body locks what its
    /// checks read (`SQLDialect.lockTimeline`, `serialize`, `forUpdate`).
    /// An audit entry pending in this task (`recording`) commits in the same transaction.
    func writeImmediate<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let pending = AuditScope.unwritten
        let now = Self.nowMillis()
        let audited: @Sendable (Database) throws -> T = { [self] db in
            // The pending entry is visible inside the body, which may name its subject.
            pending?.beginAttempt()
            let result = try AuditScope.$pending.withValue(pending) { try body(db) }
            for entry in pending?.entries ?? [] { try appendAudit(db, entry, at: now) }
            return result
        }
        let result: T
        switch backend {
        case .sqlite(let pool):
            result = try await pool.writeWithoutTransaction { db in try Self.immediate(db, audited) }
        case .postgres(let postgres):
            result = try await postgres.threads.runIfActive {
                try Self.retrying { try postgres.transaction(.write) { try audited($0) } }
            }
        }
        pending?.markWritten()
        return result
    }

    /// Runs `body` like `writeImmediate`, but inside a savepoint of a transaction shared with the
    /// other writes queued meanwhile (see `GroupCommitter`). For the frequent writes whose callers
    /// wait on the commit: posts, reactions, calls, read markers.
    /// `timeline`: the timeline it appends to; `groupable`: the same write as a value that runs
    /// together with others of its kind on PostgreSQL (see `GroupCommitter.enqueue`).
    func writeGrouped<T: Sendable>(timeline: TimelineID? = nil, groupable: (any GroupableWrite)? = nil,
                                   _ body: @escaping @Sendable (Database) throws -> T) async throws -> T
    {
        try await groupCommit.enqueue(timeline: timeline?.rawValue, groupable: groupable, body)
    }

    /// `writeGrouped`, queued before it returns; the caller awaits the result (`QueuedWrite`).
    func queueGrouped<T: Sendable>(timeline: TimelineID? = nil, groupable: (any GroupableWrite)? = nil,
                                   _ body: @escaping @Sendable (Database) throws -> T) -> QueuedWrite<T>
    {
        groupCommit.submit(timeline: timeline?.rawValue, groupable: groupable, body)
    }

    func writeImmediateSync<T>(_ body: (Database) throws -> T) throws -> T {
        let pending = AuditScope.unwritten
        let now = Self.nowMillis()
        let result: T = try withoutActuallyEscaping(body) { body in
            let audited = { [self] (db: Database) throws -> T in
                pending?.beginAttempt()
                let result = try AuditScope.$pending.withValue(pending) { try body(db) }
                for entry in pending?.entries ?? [] { try appendAudit(db, entry, at: now) }
                return result
            }
            switch backend {
            case .sqlite(let pool):
                return try pool.writeWithoutTransaction { db in try Self.immediate(db, audited) }
            case .postgres(let postgres):
                return try Self.retrying { try postgres.transaction(.write) { try audited($0) } }
            }
        }
        pending?.markWritten()
        return result
    }

    private static func immediate<T>(_ db: GRDB.Database, _ body: (Database) throws -> T) throws -> T {
        var result: T?
        try db.inTransaction(.immediate) {
            result = try body(SQLiteExecutor(db))
            return .commit
        }
        return result!
    }

    /// Runs a PostgreSQL transaction again when it was aborted by a deadlock or serialization failure.
    private static func retrying<T>(_ transaction: () throws -> T) throws -> T {
        for attempt in 1... {
            do {
                return try transaction()
            } catch where attempt < GroupCommitter.retries && StoreError.isRetryable(error) {
                continue
            }
        }
        fatalError("unreachable")
    }

    static func nowMillis() -> Int64 { WireTime.nowMillis() }

    // MARK: field encryption helpers

    func seal(_ text: String, table: String, column: String, row: String) -> Data {
        Data(cipher.seal(text, table: table, column: column, row: row))
    }

    func open(_ blob: Data, table: String, column: String, row: String) throws -> String {
        do {
            return try cipher.openString([UInt8](blob), table: table, column: column, row: row)
        } catch {
            throw StoreError.corrupt("\(table).\(column)")
        }
    }

    func index(email: String) -> Data { Data(blindIndex.index(email: email)) }

    /// Organization names are looked up like e-mail addresses: normalized, then HMAC-indexed.
    func index(organizationName: String) -> Data {
        Data(blindIndex.index(email: "org:" + organizationName))
    }
}

/// Decrypted display names (and professions) by user id. Names are read on every event a node
/// serializes; they change rarely, so a node keeps them in memory. A change made by another
/// process shows here the next time this process reads the user's row (their login or `auth`, a
/// member list, an admin's user list).
final class NameCache: Sendable {
    /// The decrypted name with the profession read beside it (a plain column, cached for the same
    /// rows so that an event's author costs no query).
    private let storage = Mutex<[UserID: Person]>([:])

    func get(_ id: UserID) -> Person? { storage.withLock { $0[id] } }
    func set(_ person: Person) { storage.withLock { $0[person.id] = person } }
}

extension HubStore {
    /// A trivial read: readiness checks that the store answers.
    public func ping() async throws {
        _ = try await read { try Int.fetchOne($0, sql: "SELECT 1") }
    }
}

extension HubStore {
    /// Runs `body` in a read transaction on a PostgreSQL store (tests inspect session settings).
    func withPostgresForTests<T>(_ body: (Database) throws -> T) throws -> T {
        guard case .postgres(let postgres) = backend else { preconditionFailure("not a PostgreSQL store") }
        return try postgres.transaction(.read) { try body($0) }
    }
}
