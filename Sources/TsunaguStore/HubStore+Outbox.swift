import Foundation
import GRDB
import TsunaguCore

/// A queued e-mail as the store keeps it (decrypted for the delivery worker).
public struct QueuedMail: Sendable, Equatable {
    public var id: String
    public var recipient: String
    public var subject: String
    public var body: String
    public var attempts: Int
}

/// The mail outbox: mail is queued in the same transaction as what caused it (an invitation),
/// so nothing is lost when the mail server is down; any node's worker delivers it.
extension HubStore {
    func enqueueMail(_ db: Database, recipient: String, subject: String, body: String, at now: Int64) throws {
        let id = "m_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try db.execute(sql: """
            INSERT INTO outbox (id, recipient, subject, body, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [id, seal(recipient, table: "outbox", column: "recipient", row: id),
                             seal(subject, table: "outbox", column: "subject", row: id),
                             seal(body, table: "outbox", column: "body", row: id), now, now])
    }

    /// Due mail, leased for `leaseMillis` so that no other node's worker takes it meanwhile.
    public func leaseDueMail(now: Int64, limit: Int, leaseMillis: Int64 = 300_000) async throws -> [QueuedMail] {
        try await writeImmediate { [self] db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM outbox WHERE sent_at IS NULL AND failed_permanently = 0 AND next_attempt_at <= ?
                  AND lease_until <= ? ORDER BY created_at LIMIT ?
                """ + db.dialect.forUpdateSkipLocked, arguments: [now, now, limit])
            return try rows.map { row in
                let id: String = row["id"]
                try db.execute(sql: "UPDATE outbox SET lease_until = ? WHERE id = ?", arguments: [now + leaseMillis, id])
                return QueuedMail(id: id, recipient: try open(row["recipient"], table: "outbox", column: "recipient", row: id),
                                  subject: try open(row["subject"], table: "outbox", column: "subject", row: id),
                                  body: try open(row["body"], table: "outbox", column: "body", row: id),
                                  attempts: row["attempts"])
            }
        }
    }

    public func markMailSent(_ id: String, at: Int64) async throws {
        try await writeImmediate { db in
            try db.execute(sql: "UPDATE outbox SET sent_at = ?, lease_until = 0 WHERE id = ?", arguments: [at, id])
        }
    }

    public func markMailFailed(_ id: String, attempts: Int, nextAttempt: Int64, error: String, permanent: Bool) async throws {
        try await writeImmediate { db in
            try db.execute(sql: """
                UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, failed_permanently = ?, lease_until = 0
                WHERE id = ?
                """, arguments: [attempts, nextAttempt, String(error.prefix(200)), permanent, id])
        }
    }
}
