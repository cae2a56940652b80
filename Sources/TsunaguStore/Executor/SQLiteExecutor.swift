import Foundation
import GRDB

/// The SQLite backend of the seam: a GRDB connection inside a transaction. Hot-path statements
/// (`cached: true`) come from GRDB's statement cache, as they did before the seam existed.
final class SQLiteExecutor: StoreExecutor {
    let db: GRDB.Database

    init(_ db: GRDB.Database) { self.db = db }

    var dialect: SQLDialect { .sqlite }

    func execute(sql: String, arguments: SQLArguments, cached: Bool) throws {
        if cached {
            try db.cachedStatement(sql: sql).execute(arguments: arguments.statementArguments)
        } else {
            try db.execute(sql: sql, arguments: arguments.statementArguments)
        }
    }

    func fetchAll(sql: String, arguments: SQLArguments, cached: Bool) throws -> [Row] {
        if cached {
            return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments.statementArguments)
        }
        return try Row.fetchAll(db, sql: sql, arguments: arguments.statementArguments)
    }

    func fetchOne(sql: String, arguments: SQLArguments, cached: Bool) throws -> Row? {
        if cached {
            return try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments.statementArguments)
        }
        return try Row.fetchOne(db, sql: sql, arguments: arguments.statementArguments)
    }

    /// SQLite runs in this process: there is no answer to wait for apart from the work itself.
    func sendWithoutWaiting(sql: String, arguments: SQLArguments) throws {
        _ = try fetchAll(sql: sql, arguments: arguments, cached: false)
    }

    var changesCount: Int { db.changesCount }
    var isInsideTransaction: Bool { db.isInsideTransaction }

    func inSavepoint(_ body: () throws -> Void) throws {
        try db.inSavepoint {
            try body()
            return .commit
        }
    }

    func noteAppended(timeline: String, seq: Int64) {}
}
