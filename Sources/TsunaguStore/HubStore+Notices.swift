import Foundation
import GRDB
import TsunaguCore

/// A planned change an operator announces to every user (maintenance, an upgrade): shown from
/// when it is added until it ends or is removed.
public struct ChangeNotice: Sendable, Equatable {
    public var id: String
    public var startsAtMillis: Int64
    public var endsAtMillis: Int64
    public var text: String
    public var createdAtMillis: Int64
}

/// A mail an operator action sends to organization admins; the caller renders it.
public struct OperatorMail: Sendable {
    public var subject: String
    public var body: String
    public init(subject: String, body: String) {
        self.subject = subject
        self.body = body
    }
}

/// Change notices (docs/operations.md, "Notices, incidents and monitors"). Adding one mails every
/// organization's admins in the same transaction (the outbox: nothing is lost while the mail
/// server is down); nodes read the list to show it to clients.
extension HubStore {
    public static let maxNoticeTextLength = 2000

    /// Records a change notice and queues `mail` to the admins of every organization.
    /// Returns the notice and how many admins were mailed.
    public func addChangeNotice(startsAtMillis: Int64, endsAtMillis: Int64, text: String,
                                mail: @escaping @Sendable (ChangeNotice) -> OperatorMail) async throws
        -> (notice: ChangeNotice, mailed: Int)
    {
        let trimmed = try Self.checkedNoticeText(text)
        guard endsAtMillis > startsAtMillis else { throw StoreError.invalid("the end must come after the start") }
        let now = Self.nowMillis()
        let notice = ChangeNotice(id: Self.operationsID("nt_"), startsAtMillis: startsAtMillis,
                                  endsAtMillis: endsAtMillis, text: trimmed, createdAtMillis: now)
        let content = mail(notice)
        let mailed = try await writeImmediate { [self] db -> Int in
            try db.execute(sql: """
                INSERT INTO notices (id, kind, starts_at, ends_at, text, created_at) VALUES (?, 'change', ?, ?, ?, ?)
                """, arguments: [notice.id, startsAtMillis, endsAtMillis,
                                 seal(trimmed, table: "notices", column: "text", row: notice.id), now])
            let recipients = try adminAddresses(db, organizations: nil)
            for recipient in recipients {
                try enqueueMail(db, recipient: recipient, subject: content.subject, body: content.body, at: now)
            }
            return recipients.count
        }
        return (notice, mailed)
    }

    /// Change notices not removed and not yet ended at `nowMillis`, by start.
    public func changeNotices(nowMillis: Int64) async throws -> [ChangeNotice] {
        try await read { [self] db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM notices WHERE removed_at IS NULL AND ends_at > ? ORDER BY starts_at, id
                """, arguments: [nowMillis]).map { row in
                let id: String = row["id"]
                return ChangeNotice(id: id, startsAtMillis: row["starts_at"], endsAtMillis: row["ends_at"],
                                    text: try open(row["text"], table: "notices", column: "text", row: id),
                                    createdAtMillis: row["created_at"])
            }
        }
    }

    /// Withdraws a notice; false when there is no such notice (or it was removed already).
    public func removeChangeNotice(id: String) async throws -> Bool {
        let now = Self.nowMillis()
        return try await writeImmediate { db in
            try db.execute(sql: "UPDATE notices SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                           arguments: [now, id])
            return db.changesCount > 0
        }
    }

    /// E-mail addresses of the active admins of the given organizations (all when nil).
    func adminAddresses(_ db: Database, organizations: [OrganizationID]?) throws -> [String] {
        var sql = """
            SELECT * FROM users WHERE org_role = 'admin' AND disabled = 0 AND password_hash IS NOT NULL
            """
        var arguments: [String] = []
        if let organizations {
            guard !organizations.isEmpty else { return [] }
            sql += " AND org_id IN (" + Array(repeating: "?", count: organizations.count).joined(separator: ",") + ")"
            arguments = organizations.map(\.rawValue)
        }
        return try Row.fetchAll(db, sql: sql + " ORDER BY created_at, id", arguments: SQLArguments(arguments))
            .map { try userRecord($0).email }
    }

    static func checkedNoticeText(_ text: String) throws -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...maxNoticeTextLength).contains(trimmed.count) else {
            throw StoreError.invalid("text: 1 to \(maxNoticeTextLength) characters")
        }
        return trimmed
    }

    public static func operationsID(_ prefix: String) -> String {
        prefix + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))
    }
}
