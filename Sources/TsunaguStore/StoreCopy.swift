import Foundation
import GRDB
import TsunaguCore
import TsunaguCrypto

/// Copies a whole hub from one store to another, as stored: ciphertexts byte for byte (they are
/// bound to table, column, row and data-key id, none of which changes), the audit chain with its
/// links, timeline heads and every seq. Used by `tsunagu store migrate` (SQLite → PostgreSQL) and
/// by backups of a PostgreSQL store (its snapshot copied into the SQLite file that is sealed), and
/// their restore (docs/storage.md, "Moving a hub to PostgreSQL", "Backups").
///
/// The copy reads the source in one snapshot and writes the target in one transaction; the
/// target must be empty (migrated, no rows). Then `verify` reopens both with the master key and
/// compares them.
public enum StoreCopy {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// What was copied and checked.
    public struct Report: Sendable, Equatable {
        /// Rows per table, in copy order.
        public var rows: [String: Int] = [:]
        public var auditEntries = 0
        public var sampledEvents = 0
        public var totalRows: Int { rows.values.reduce(0, +) }
    }

    /// Tables in an order that satisfies their foreign keys. Tables not listed here (added by
    /// later migrations) are copied after these, in name order.
    static let knownOrder = ["data_keys", "organizations", "users", "sessions", "timelines", "memberships", "events",
                             "read_receipts", "call_logs", "audit_log", "activation_links", "outbox", "login_failures",
                             "user_certificates"]
    /// Not data of the hub: migration bookkeeping (each backend keeps its own) and the live
    /// node registry (nodes register again when they start).
    static let skipped: Set<String> = ["grdb_migrations", "schema_migrations", "nodes"]

    /// Copies `source` into the empty `target` and verifies the copy with `masterKey`.
    public static func copy(from source: StoreLocation, to target: StoreLocation, masterKey: MasterKey) async throws
        -> Report
    {
        let from = try HubStore(location: source, masterKey: masterKey)
        var report = try copyRows(from: from.backend, to: target)
        let to = try HubStore(location: target, masterKey: masterKey)
        try await verify(from, to, report: &report)
        return report
    }

    /// Copies every row of `source` into the (new or empty) store at `target`; no keys needed.
    static func copyRows(from source: StoreBackend, to target: StoreLocation) throws -> Report {
        let destination = try HubStore.openBackend(target)
        defer { destination.close() }
        return try destination.write { out in
            try source.read { input in try copyRows(from: input, to: out) }
        }
    }

    /// The copy inside the caller's two transactions.
    static func copyRows(from input: Database, to out: Database) throws -> Report {
        let tables = try tableNames(input)
        let targetTables = Set(try tableNames(out))
        for table in tables where !targetTables.contains(table) {
            throw Failure(description: "the target has no table \(table) (an older version?)")
        }
        for table in try tableNames(out) {
            if try Int.fetchOne(out, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 > 0 {
                throw Failure(description: "the target is not empty (table \(table) has rows); copy only into a new database")
            }
        }
        var report = Report()
        for table in tables {
            var copied = 0
            let order = try orderColumns(input, table)
            while true {
                let rows = try Row.fetchAll(input, sql: "SELECT * FROM \(table) ORDER BY \(order) LIMIT 500 OFFSET ?",
                                            arguments: [copied])
                guard let first = rows.first else { break }
                let columns = Array(first.columnNames)
                let marks = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
                var values: [DatabaseValue] = []
                values.reserveCapacity(rows.count * columns.count)
                for row in rows {
                    for column in columns { values.append(row[column] as DatabaseValue) }
                }
                try out.execute(sql: "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
                                    + Array(repeating: marks, count: rows.count).joined(separator: ", "),
                                arguments: SQLArguments(values: values))
                copied += rows.count
            }
            report.rows[table] = copied
        }
        return report
    }

    /// The hub's tables in the source, in copy order.
    static func tableNames(_ db: Database) throws -> [String] {
        let sql = switch db.dialect {
        case .sqlite: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        case .postgres: "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        let present = Set(try String.fetchAll(db, sql: sql)).subtracting(skipped)
        return knownOrder.filter(present.contains) + present.subtracting(knownOrder).sorted()
    }

    /// An ORDER BY over the table's primary key (every column if it has none), so that pages of
    /// one snapshot do not overlap.
    static func orderColumns(_ db: Database, _ table: String) throws -> String {
        var columns: [String]
        switch db.dialect {
        case .sqlite:
            let info = try Row.fetchAll(db, sql: "SELECT name, pk FROM pragma_table_info(?)", arguments: [table])
            columns = info.filter { ($0["pk"] as Int) > 0 }.sorted { ($0["pk"] as Int) < ($1["pk"] as Int) }
                .map { $0["name"] }
            if columns.isEmpty { columns = info.map { $0["name"] } }
        case .postgres:
            columns = try String.fetchAll(db, sql: """
                SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = CAST(? AS regclass) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)
                """, arguments: [table])
            if columns.isEmpty {
                columns = try String.fetchAll(db, sql: """
                    SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?
                    ORDER BY ordinal_position
                    """, arguments: [table])
            }
        }
        return columns.joined(separator: ", ")
    }

    /// The copy holds what the source holds: the same rows per table, an audit chain that
    /// verifies with the same length, and events that decrypt alike on both sides.
    static func verify(_ source: HubStore, _ target: HubStore, report: inout Report) async throws {
        let counted = try target.backend.read { db in
            try report.rows.keys.map { ($0, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \($0)") ?? 0) }
        }
        for (table, count) in counted where count != report.rows[table] {
            throw Failure(description: "verification failed: \(table) has \(count) rows in the copy, \(report.rows[table] ?? 0) in the source")
        }
        let (sourceChecked, sourceBroken) = try await source.verifyAuditChain()
        let (checked, broken) = try await target.verifyAuditChain()
        guard broken == nil, checked == sourceChecked, sourceBroken == nil else {
            throw Failure(description: "verification failed: the copy's audit chain does not verify like the source's")
        }
        report.auditEntries = checked
        // A sample of events, decrypted on both sides (the first of every timeline, and the latest 50).
        let sample = try source.backend.read { db in
            try Row.fetchAll(db, sql: "SELECT timeline_id, seq FROM events ORDER BY seq DESC, timeline_id LIMIT 50")
                + Row.fetchAll(db, sql: "SELECT timeline_id, seq FROM events WHERE seq = 1")
        }
        for row in sample {
            let timeline = TimelineID(unchecked: row["timeline_id"]), seq: Int64 = row["seq"]
            let original = try await source.events(timeline: timeline, after: seq - 1, through: seq, limit: 1)
            let copied = try await target.events(timeline: timeline, after: seq - 1, through: seq, limit: 1)
            guard original == copied, original.count == 1 else {
                throw Failure(description: "verification failed: event \(seq) of a timeline does not decrypt alike in the copy")
            }
        }
        report.sampledEvents = sample.count
    }
}
