import Foundation
import GRDB
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The PostgreSQL backend of the seam: one connection inside one transaction, driven
/// synchronously from a store thread (never from the connection's own event loop), so that the
/// store's one copy of its SQL logic runs unchanged. `?` placeholders become `$n`, GRDB
/// `DatabaseValue` arguments become PostgreSQL binds, and rows come back as GRDB `Row` values.
final class PostgresExecutor: StoreExecutor {
    let connection: PostgresConnection
    private let logger: Logger
    private(set) var changesCount = 0
    var isInsideTransaction = false
    /// A statement failed for connection reasons (PostgreSQL terminated the session: a restart,
    /// an administrator): nothing more may be sent on this connection. A ROLLBACK sent after the
    /// server's FATAL but before the close was seen was left unanswered forever by postgres-nio,
    /// which hung a feed's read (and its timeline's delivery) across a PostgreSQL restart.
    private(set) var isBroken = false
    private var savepointDepth = 0
    /// (timeline, seq) of events this transaction appended, for the commit's NOTIFY.
    private(set) var appended: [(timeline: String, seq: Int64)] = []
    /// Statements sent without waiting for their answer (BEGIN, savepoints, row locks): the
    /// connection runs queries in order, so they are done when the next awaited query answers;
    /// each is checked then. (postgres-nio sends each only after the one before has answered, so
    /// this saves the calling thread's wake-ups, not the round trips themselves.)
    private var pipelined: [EventLoopFuture<Void>] = []
    /// Statements whose answer this transaction has waited for and received. While it is 0,
    /// nothing of the transaction has been seen to run: a broken connection then means it may run
    /// again on another (`PostgresBackend`).
    private(set) var answered = 0

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    var dialect: SQLDialect { .postgres }

    func execute(sql: String, arguments: SQLArguments, cached: Bool) throws {
        if arguments.values.isEmpty && sql.contains(";") {
            for statement in SQLDialect.statements(sql) { try execute(sql: statement, arguments: [], cached: false) }
            return
        }
        let result = try run(sql, arguments)
        changesCount = result.metadata.rows ?? 0
    }

    func fetchAll(sql: String, arguments: SQLArguments, cached: Bool) throws -> [Row] {
        try run(sql, arguments).rows.map { Self.row($0) }
    }

    func fetchOne(sql: String, arguments: SQLArguments, cached: Bool) throws -> Row? {
        try run(sql, arguments).rows.first.map { Self.row($0) }
    }

    func inSavepoint(_ body: () throws -> Void) throws {
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        let name = "sp\(savepointDepth)"
        let appendedMark = appended.count
        // SAVEPOINT and RELEASE are sent without waiting (two round trips fewer per write in a
        // group commit); an error in either surfaces at the next awaited query.
        pipeline("SAVEPOINT \(name)")
        do {
            try body()
        } catch {
            appended.removeSubrange(appendedMark...)
            guard !isBroken && !connection.isClosed else { throw error }
            // The rollback makes the transaction usable again after an error inside the savepoint.
            try simple("ROLLBACK TO SAVEPOINT \(name)")
            try simple("RELEASE SAVEPOINT \(name)")
            throw error
        }
        pipeline("RELEASE SAVEPOINT \(name)")
    }

    /// Sends a statement without waiting for its answer: it is checked at the next awaited one
    /// (`checkPipelined`), or never, for a read-only transaction's COMMIT.
    func pipeline(_ sql: String) {
        pipelined.append(connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).map { _ in })
    }

    func sendWithoutWaiting(sql: String, arguments: SQLArguments) throws {
        pipelined.append(connection.query(try Self.query(sql, arguments), logger: logger).map { _ in })
    }

    func fetchAllPrepared(sql: String, arguments: SQLArguments) throws -> [Row] {
        guard let execution = executePrepared(sql, arguments) else {
            return try fetchAll(sql: sql, arguments: arguments, cached: false)
        }
        return try wait(execution).map(Self.preparedRow)
    }

    func sendPreparedWithoutWaiting(sql: String, arguments: SQLArguments) throws {
        guard let execution = executePrepared(sql, arguments) else {
            return try sendWithoutWaiting(sql: sql, arguments: arguments)
        }
        pipelined.append(execution.map { _ in })
    }

    /// The statement run as this connection's prepared statement; nil when the connection has
    /// prepared as many as it keeps (the caller runs it unprepared).
    private func executePrepared(_ sql: String, _ arguments: SQLArguments) -> EventLoopFuture<[PostgresRow]>? {
        guard let prepared = PreparedStatements.shared.statement(PlaceholderCache.shared.numbered(sql), on: connection) else {
            return nil
        }
        let binds = arguments.values.map(Self.data)
        return prepared.flatMap { $0.execute(binds) }
    }

    func noteAppended(timeline: String, seq: Int64) {
        appended.append((timeline, seq))
    }

    /// A statement without arguments (transaction control).
    func simple(_ sql: String) throws {
        _ = try run(sql, [])
    }

    /// Runs one statement and waits for its answer, checking those sent before it without waiting.
    private func run(_ sql: String, _ arguments: SQLArguments) throws -> PostgresQueryResult {
        try wait(connection.query(try Self.query(sql, arguments), logger: logger))
    }

    /// Waits for a statement's answer, checking those sent before it without waiting.
    private func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        do {
            let result = try blockingWait(future)
            try checkPipelined()
            answered += 1
            return result
        } catch {
            // Drain what was sent before (its answers are in); a pipelined statement that failed
            // is the first cause, so report that rather than the "transaction is aborted" after it.
            do { try checkPipelined() } catch let first {
                noteFailure(first)
                throw first
            }
            noteFailure(error)
            throw error
        }
    }

    /// A GRDB value as a bind of the older API that prepared statements take.
    private static func data(_ value: DatabaseValue) -> PostgresData {
        switch value.storage {
        case .null: .null
        case .int64(let integer): PostgresData(int64: integer)
        case .double(let double): PostgresData(double: double)
        case .string(let string): PostgresData(string: string)
        case .blob(let data): PostgresData(bytes: data)
        }
    }

    /// `?` placeholders become `$n`; GRDB values become PostgreSQL binds.
    private static func query(_ sql: String, _ arguments: SQLArguments) throws -> PostgresQuery {
        var binds = PostgresBindings(capacity: arguments.values.count)
        for value in arguments.values {
            switch value.storage {
            case .null: binds.appendNull()
            case .int64(let integer): binds.append(integer)
            case .double(let double): binds.append(double)
            case .string(let string): binds.append(string)
            case .blob(let data): try binds.append(data)
            }
        }
        return PostgresQuery(unsafeSQL: PlaceholderCache.shared.numbered(sql), binds: binds)
    }

    private func noteFailure(_ error: any Error) {
        if connection.isClosed || (StoreError.isUnavailable(error) && !StoreError.isRetryable(error)) {
            isBroken = true
            isInsideTransaction = false
        }
    }

    private func checkPipelined() throws {
        guard !pipelined.isEmpty else { return }
        let sent = pipelined
        pipelined.removeAll()
        for future in sent { _ = try blockingWait(future) }
    }

    /// A PostgreSQL row as a GRDB row: integers of every width as INTEGER, booleans as 0/1 (as
    /// SQLite stores them), bytea as BLOB, text as TEXT.
    /// `value` reads one cell (`binaryValue` for a prepared statement's row).
    static func row(_ row: PostgresRow, _ value: (PostgresCell) -> DatabaseValue = value) -> Row {
        var columns: [String: (any DatabaseValueConvertible)?] = [:]
        for cell in row {
            columns[cell.columnName] = value(cell)
        }
        return Row(columns)
    }

    private static func value(_ cell: PostgresCell) -> DatabaseValue {
        guard var bytes = cell.bytes else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid:
            return (try? cell.decode(Int64.self))?.databaseValue ?? .null
        case .bool:
            return (try? cell.decode(Bool.self)).map { $0 ? 1.databaseValue : 0.databaseValue } ?? .null
        case .bytea:
            return Data(bytes.readBytes(length: bytes.readableBytes) ?? []).databaseValue
        case .float4, .float8:
            return (try? cell.decode(Double.self))?.databaseValue ?? .null
        case .numeric:
            guard let text = try? cell.decode(String.self) else { return .null }
            if let integer = Int64(text) { return integer.databaseValue }
            return Double(text)?.databaseValue ?? .null
        default:
            return (try? cell.decode(String.self))?.databaseValue ?? .null
        }
    }
}

extension PostgresExecutor {
    /// A prepared statement's row (`PreparedStatements`). postgres-nio 1.33 asks for its values in
    /// binary but labels them with the formats the statement was described with (text), so the
    /// label is not trusted: each value is read as binary. The store's prepared statements answer
    /// integers, text and bytea only.
    static func preparedRow(_ row: PostgresRow) -> Row {
        Self.row(row, binaryValue)
    }

    private static func binaryValue(_ cell: PostgresCell) -> DatabaseValue {
        guard var bytes = cell.bytes else { return .null }
        switch cell.dataType {
        case .int8: return bytes.readInteger(as: Int64.self)?.databaseValue ?? .null
        case .int4: return bytes.readInteger(as: Int32.self).map { Int64($0).databaseValue } ?? .null
        case .int2: return bytes.readInteger(as: Int16.self).map { Int64($0).databaseValue } ?? .null
        case .bool: return bytes.readInteger(as: UInt8.self).map { ($0 != 0 ? 1 : 0).databaseValue } ?? .null
        case .bytea: return Data(bytes.readableBytesView).databaseValue
        default: return String(buffer: bytes).databaseValue
        }
    }
}

/// The `$n` form of each statement, computed once: the store's statements are a fixed set.
final class PlaceholderCache: Sendable {
    static let shared = PlaceholderCache()
    private let cache = Mutex<[String: String]>([:])

    func numbered(_ sql: String) -> String {
        if let hit = cache.withLock({ $0[sql] }) { return hit }
        let numbered = SQLDialect.numberedPlaceholders(sql)
        cache.withLock { cache in
            // Statements built with a variable number of `?` (IN lists) would grow the cache
            // without bound; keep it to the fixed statements' size.
            if cache.count > 2_000 { cache.removeAll() }
            cache[sql] = numbered
        }
        return numbered
    }
}

/// Waits for `future` on the calling thread. Store threads are never the connection's event loop.
func blockingWait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
    let box = ResultBox<T>()
    future.whenComplete { result in box.set(result) }
    return try box.wait().get()
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<T, any Error>?

    func set(_ value: Result<T, any Error>) {
        condition.lock()
        result = value
        condition.signal()
        condition.unlock()
    }

    func wait() -> Result<T, any Error> {
        condition.lock()
        defer { condition.unlock() }
        while result == nil { condition.wait() }
        return result!
    }
}
