import Foundation
import Testing
@testable import TsunaguStore

/// `PreparedStatements` on a real PostgreSQL server: the values come back as an unprepared
/// statement gives them, a statement is prepared once per connection, and it outlives a rollback.
@Suite struct PreparedStatementsTests {
    static let sql = "SELECT v.n, v.small, v.word, v.blob, v.nothing FROM (VALUES (?::bigint, ?::bigint, ?::text, ?::bytea, ?::bigint)) AS v(n, small, word, blob, nothing)"
    static let arguments: SQLArguments = [Int64.max - 7, -12, "ケア x", Data([0, 1, 0xFE, 0xFF]), nil]

    @Test func preparedValuesMatchUnpreparedOnesAndThePreparationOutlivesARollback() async throws {
        let f = try await StoreFixture.make(.postgres)
        defer { f.remove() }
        guard case .postgres(let backend) = f.store.backend else { return }
        struct RolledBack: Error {}
        // Prepared in a transaction that rolls back...
        #expect(throws: RolledBack.self) {
            try backend.transaction(.write) { db in
                let prepared = try db.fetchAllPrepared(sql: Self.sql, arguments: Self.arguments)
                let plain = try db.fetchAll(sql: Self.sql, arguments: Self.arguments, cached: false)
                #expect(prepared == plain)
                #expect(prepared.first?["n"] as Int64? == Int64.max - 7)
                #expect(prepared.first?["small"] as Int64? == -12)
                #expect(prepared.first?["word"] as String? == "ケア x")
                #expect(prepared.first?["blob"] as Data? == Data([0, 1, 0xFE, 0xFF]))
                #expect(prepared.first?["nothing"] as Int64? == nil)
                throw RolledBack()
            }
        }
        // ...it still runs afterwards, and the connection holds it once, however often it runs.
        for _ in 0..<3 {
            try backend.transaction(.write) { db in
                let again = try db.fetchAllPrepared(sql: Self.sql, arguments: Self.arguments)
                #expect(again.first?["word"] as String? == "ケア x")
                let held = try db.fetchAll(sql: "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%v(n, small, word, blob, nothing)%'",
                                           arguments: [], cached: false)
                #expect(held.count == 1)
            }
        }
    }
}
