import Foundation
import GRDB

/// The seam between the store's SQL logic and a database (docs/storage.md, "Two backends").
///
/// Every operation of `HubStore` runs its SQL through this protocol: "a connection inside a
/// transaction". `SQLiteExecutor` runs it on GRDB (cached statements on the hot paths, as before);
/// `PostgresExecutor` runs the same SQL on PostgreSQL. The store's SQL is written once, portably
/// (`?` placeholders, `ON CONFLICT`, `RETURNING`, INTEGER/TEXT/BLOB columns); what cannot be
/// written once (locks, the clock, DDL types) lives in `SQLDialect`.
///
/// Results come back as GRDB `Row` values on both backends, so decoding code reads
/// `row["column"]` whatever ran the query.
public protocol StoreExecutor: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs one statement (or, without arguments, a script of statements separated by `;`).
    /// `cached`: a hot-path statement that SQLite keeps compiled between calls.
    func execute(sql: String, arguments: SQLArguments, cached: Bool) throws
    func fetchAll(sql: String, arguments: SQLArguments, cached: Bool) throws -> [Row]
    func fetchOne(sql: String, arguments: SQLArguments, cached: Bool) throws -> Row?
    /// Runs a statement whose answer nobody reads (a row lock): on PostgreSQL the calling thread
    /// does not wait for it, and a failure surfaces at the next statement that is waited for (the
    /// connection runs statements in order); SQLite runs it at once.
    func sendWithoutWaiting(sql: String, arguments: SQLArguments) throws
    /// `fetchAll` and `sendWithoutWaiting` of a statement that runs often with the same text (a
    /// lone post's): PostgreSQL prepares it once per connection (`PreparedStatements`), SQLite
    /// keeps it compiled. Every placeholder carries its type, integers as `?::bigint` (the binds
    /// are 64-bit): a prepared statement's parameter types are fixed when it is prepared.
    func fetchAllPrepared(sql: String, arguments: SQLArguments) throws -> [Row]
    func sendPreparedWithoutWaiting(sql: String, arguments: SQLArguments) throws
    /// Rows changed by the last `execute`.
    var changesCount: Int { get }
    var isInsideTransaction: Bool { get }
    /// Runs `body` inside a savepoint: rolled back alone when `body` throws.
    func inSavepoint(_ body: () throws -> Void) throws
    /// Remembers an event appended by this transaction, for the commit's change notification
    /// (PostgreSQL NOTIFY; nothing on SQLite, whose nodes share one host).
    func noteAppended(timeline: String, seq: Int64)
}

/// Inside TsunaguStore, `Database` names the executor seam, so that the store's operations (and
/// the ones other files add) take `(Database) throws -> T` bodies and run on either backend.
/// GRDB's own connection type is spelled `GRDB.Database` where the SQLite backend needs it.
typealias Database = any StoreExecutor

extension StoreExecutor {
    func execute(sql: String, arguments: SQLArguments = []) throws {
        try execute(sql: sql, arguments: arguments, cached: false)
    }

    func fetchAllPrepared(sql: String, arguments: SQLArguments) throws -> [Row] {
        try fetchAll(sql: sql, arguments: arguments, cached: true)
    }

    func sendPreparedWithoutWaiting(sql: String, arguments: SQLArguments) throws {
        try sendWithoutWaiting(sql: sql, arguments: arguments)
    }
}

/// Statement arguments, bound to `?` placeholders in order. Written as array literals at call sites.
public struct SQLArguments: ExpressibleByArrayLiteral, Sendable {
    public var values: [DatabaseValue]

    public init(arrayLiteral elements: (any DatabaseValueConvertible)?...) {
        values = elements.map { $0?.databaseValue ?? .null }
    }

    public init(_ elements: some Sequence<some DatabaseValueConvertible>) {
        values = elements.map(\.databaseValue)
    }

    public init(values: [DatabaseValue]) {
        self.values = values
    }

    var statementArguments: StatementArguments { StatementArguments(values) }
}

// The call shapes the store uses inside transactions, over the seam. GRDB's own overloads take a
// `GRDB.Database`, so with an executor these are the ones chosen.
extension Row {
    static func fetchAll(_ db: Database, sql: String, arguments: SQLArguments = [], cached: Bool = false) throws -> [Row] {
        try db.fetchAll(sql: sql, arguments: arguments, cached: cached)
    }

    static func fetchOne(_ db: Database, sql: String, arguments: SQLArguments = [], cached: Bool = false) throws -> Row? {
        try db.fetchOne(sql: sql, arguments: arguments, cached: cached)
    }
}

extension DatabaseValueConvertible {
    /// The first column of the first row; nil when there is no row or the value is NULL.
    static func fetchOne(_ db: Database, sql: String, arguments: SQLArguments = [], cached: Bool = false) throws -> Self? {
        guard let row = try db.fetchOne(sql: sql, arguments: arguments, cached: cached), row.count > 0 else { return nil }
        return Self.fromDatabaseValue(row[0] as DatabaseValue)
    }

    /// The first column of every row (NULLs skipped).
    static func fetchAll(_ db: Database, sql: String, arguments: SQLArguments = [], cached: Bool = false) throws -> [Self] {
        try db.fetchAll(sql: sql, arguments: arguments, cached: cached).compactMap {
            $0.count > 0 ? Self.fromDatabaseValue($0[0] as DatabaseValue) : nil
        }
    }
}
