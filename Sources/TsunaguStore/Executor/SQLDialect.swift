import Foundation

/// What differs between SQLite and PostgreSQL, in one place (docs/storage.md, "The dialect").
///
/// The store's SQL is portable; these are the few things that cannot be:
/// - **Locks.** A SQLite write transaction is IMMEDIATE: it holds the one write lock of the file
///   from BEGIN, so a read-then-write inside it is safe. PostgreSQL runs READ COMMITTED with many
///   writers at once, so each read-then-write invariant takes a lock first: the timeline's row
///   (`lockTimeline`) or a transaction-scoped advisory lock (`serialize`). On SQLite both are no-ops.
/// - **The clock** of registry heartbeats and leases: the database's (`nowMillisSQL`), so that
///   nodes on several hosts with skewed clocks agree on who is alive.
/// - **DDL types**: migrations are written for SQLite; `postgresDDL` translates them.
public enum SQLDialect: Sendable {
    case sqlite
    case postgres

    /// Store-wide invariants serialized on PostgreSQL with `pg_advisory_xact_lock` (held to the
    /// end of the transaction). The keys are fixed numbers, the same on every node.
    enum SerialLock: Int64 {
        /// The audit log is one hash chain: an append reads the last link and writes the next.
        case auditChain = 0x7473_6e67_0001
        /// Login-attempt reservations read counters and write them back.
        case loginThrottle = 0x7473_6e67_0002
        /// Unique names and addresses are checked before the insert, for a clear `conflict`.
        case identity = 0x7473_6e67_0003
        /// Running migrations: one node migrates, the others wait and then find them applied.
        case migrations = 0x7473_6e67_0004
        /// Revocation ids are max + 1: writers in turn, so a follower never sees a smaller id commit later.
        case revocations = 0x7473_6e67_0005
    }

    /// Takes `lock` until the end of the transaction (PostgreSQL); nothing on SQLite, whose
    /// IMMEDIATE transaction already holds the whole database.
    func serialize(_ db: Database, _ lock: SerialLock) throws {
        guard self == .postgres else { return }
        _ = try db.fetchOne(sql: "SELECT pg_advisory_xact_lock(?)", arguments: [lock.rawValue], cached: true)
    }

    /// Locks the timeline's row until the end of the transaction (PostgreSQL), so that checks
    /// made on it (membership, the last owner, a call's state) hold until commit; writers of other
    /// timelines are not held up. Nothing on SQLite.
    /// Sent without waiting (`StoreExecutor.sendWithoutWaiting`): PostgreSQL runs the
    /// transaction's next statement once the lock is held, and a failure to take it surfaces there.
    func lockTimeline(_ db: Database, _ timeline: String) throws {
        guard self == .postgres else { return }
        try db.sendWithoutWaiting(sql: "SELECT 1 FROM timelines WHERE id = ? FOR UPDATE", arguments: [timeline])
    }

    /// Locks several timelines' rows in the given order (callers sort by id): a group commit's
    /// batch takes all of its timelines at once, so batches of different nodes never deadlock.
    func lockTimelines(_ db: Database, _ timelines: [String]) throws {
        guard self == .postgres, !timelines.isEmpty else { return }
        let marks = Array(repeating: "?::text", count: timelines.count).joined(separator: ", ")
        let sql = "SELECT 1 FROM timelines WHERE id IN (\(marks)) ORDER BY id FOR UPDATE"
        // Prepared for the few timelines of a lone post's batch (`PreparedStatements`).
        if timelines.count <= HubStore.preparedBatches {
            try db.sendPreparedWithoutWaiting(sql: sql, arguments: SQLArguments(timelines))
        } else {
            try db.sendWithoutWaiting(sql: sql, arguments: SQLArguments(timelines))
        }
    }

    /// Appended to a SELECT whose rows the transaction then updates (PostgreSQL row locks).
    var forUpdate: String { self == .postgres ? " FOR UPDATE" : "" }

    /// Appended to a SELECT that leases rows to one worker: rows another node is leasing are
    /// skipped rather than waited for (PostgreSQL).
    var forUpdateSkipLocked: String { self == .postgres ? " FOR UPDATE SKIP LOCKED" : "" }

    /// The database's clock in milliseconds since 1970, as an SQL expression.
    var nowMillisSQL: String {
        switch self {
        case .sqlite: "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
        case .postgres: "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
        }
    }

    /// A SQLite migration script as PostgreSQL DDL: comments dropped, BLOB → BYTEA,
    /// INTEGER → BIGINT (SQLite's INTEGER is 64-bit), `WITHOUT ROWID` dropped (PostgreSQL tables
    /// have no rowid). Migrations use only TEXT, INTEGER and BLOB columns and standard DDL, so this
    /// is the PostgreSQL twin of every migration; one that needs more passes its own
    /// (`StoreMigrator.registerMigration(_:postgres:_:)`).
    static func postgresDDL(_ sqlite: String) -> String {
        var text = sqlite.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            guard let comment = line.range(of: "--") else { return line }
            return line[..<comment.lowerBound]
        }.joined(separator: "\n")
        for (pattern, replacement) in [(#"\bBLOB\b"#, "BYTEA"), (#"\bINTEGER\b"#, "BIGINT"),
                                       (#"\)\s*WITHOUT\s+ROWID"#, ")")] {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text
    }

    /// Splits a script into statements at `;` outside quotes.
    static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inQuote = false
        for character in script {
            if character == "'" { inQuote.toggle() }
            if character == ";" && !inQuote {
                statements.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        statements.append(current)
        return statements.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    /// `?` placeholders as PostgreSQL's `$1, $2, …` (outside quotes and comments).
    static func numberedPlaceholders(_ sql: String) -> String {
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var inQuote = false
        var previous: Character = " "
        var inComment = false
        for character in sql {
            if inComment {
                if character == "\n" { inComment = false }
                result.append(character)
                previous = character
                continue
            }
            if character == "'" { inQuote.toggle() }
            if !inQuote && character == "-" && previous == "-" { inComment = true }
            if character == "?" && !inQuote {
                number += 1
                result += "$\(number)"
            } else {
                result.append(character)
            }
            previous = character
        }
        return result
    }
}
