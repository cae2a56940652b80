import NIOCore
import PostgresNIO
import Synchronization

/// Named prepared statements per PostgreSQL connection, for the few statements a lone post runs
/// (`StoreExecutor.fetchAllPrepared`). An unnamed statement is parsed and planned on every
/// execution: PostgreSQL's statement log put that at 0.2 ms for each of a lone post's three
/// statements, a third of its transaction. A prepared one is parsed once per connection and, after
/// a few executions, runs a cached plan.
///
/// A statement prepared by the protocol outlives the transaction it was prepared in (a rollback
/// does not drop it) and ends with its connection. Entries hold their connection, so a closed
/// one's entries go when the next statement is prepared; at most `limit` statements per
/// connection, past which statements run unprepared.
final class PreparedStatements: Sendable {
    static let shared = PreparedStatements()
    static let limit = 64

    private struct Entry {
        let connection: PostgresConnection
        var statements: [String: EventLoopFuture<PreparedQuery>] = [:]
    }

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    /// The statement prepared on `connection` (prepared now if it is not yet); nil past the limit.
    /// A preparation that fails is forgotten, so the next use prepares it again.
    func statement(_ sql: String, on connection: PostgresConnection) -> EventLoopFuture<PreparedQuery>? {
        let key = ObjectIdentifier(connection)
        let (known, full) = entries.withLock { entries -> (EventLoopFuture<PreparedQuery>?, Bool) in
            let statements = entries[key]?.statements ?? [:]
            return (statements[sql], statements.count >= Self.limit)
        }
        if let known { return known }
        if full { return nil }
        let preparing = connection.prepare(query: sql)
        entries.withLock { entries in
            if entries[key] == nil {
                entries = entries.filter { !$0.value.connection.isClosed }
                entries[key] = Entry(connection: connection)
            }
            entries[key]!.statements[sql] = preparing
        }
        preparing.whenFailure { [self] _ in
            entries.withLock { entries in _ = entries[key]?.statements.removeValue(forKey: sql) }
        }
        return preparing
    }
}
