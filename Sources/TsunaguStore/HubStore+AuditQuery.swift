import Foundation
import GRDB
import TsunaguCore

/// Which entries an organization's admin asks for (docs/protocol.md, `GET /v1/admin/audit`).
public struct AuditFilter: Sendable {
    public var organization: OrganizationID
    public var fromMillis: Int64
    public var toMillis: Int64
    /// Entries by or about this user (actor or target).
    public var user: UserID?
    /// Entries about this timeline (its id, or a member of it, as target).
    public var timeline: TimelineID?
    public var action: String?

    public init(organization: OrganizationID, fromMillis: Int64, toMillis: Int64, user: UserID? = nil,
                timeline: TimelineID? = nil, action: String? = nil) {
        self.organization = organization
        self.fromMillis = fromMillis
        self.toMillis = toMillis
        self.user = user
        self.timeline = timeline
        self.action = action
    }
}

extension HubStore {
    /// One page of the entries `filter` selects with seq above `afterSeq`, oldest first, details
    /// decrypted. Only the organization's own entries: those recorded for it (its users' logins,
    /// failed ones included; its admins' changes; reads of its timelines by anyone, of any
    /// organization).
    public func auditEntries(_ filter: AuditFilter, afterSeq: Int64, limit: Int) async throws -> [AuditEntry] {
        var sql = "SELECT * FROM audit_log WHERE org_id = ? AND at_ms >= ? AND at_ms <= ? AND seq > ?"
        var arguments: [(any DatabaseValueConvertible)?] = [filter.organization.rawValue, filter.fromMillis, filter.toMillis,
                                                         afterSeq]
        if let user = filter.user {
            sql += " AND (actor_id = ? OR target = ? OR target LIKE ?)"
            arguments += [user.rawValue, user.rawValue, "%/" + user.rawValue]
        }
        if let timeline = filter.timeline {
            sql += " AND (target = ? OR target LIKE ?)"
            arguments += [timeline.rawValue, timeline.rawValue + "/%"]
        }
        if let action = filter.action {
            sql += " AND action = ?"
            arguments.append(action)
        }
        sql += " ORDER BY seq LIMIT ?"
        arguments.append(limit)
        let statement = sql
        let bound = SQLArguments(values: arguments.map { $0?.databaseValue ?? .null })
        return try await read { [self] db in
            try Row.fetchAll(db, sql: statement, arguments: bound).map { row in
                let seq: Int64 = row["seq"]
                var record = AuditRecord(organization: (row["org_id"] as String?).map(OrganizationID.init(unchecked:)),
                                         actor: (row["actor_id"] as String?).map(UserID.init(unchecked:)),
                                         action: row["action"], target: row["target"], source: row["source"],
                                         node: row["node"])
                // After a data-key rotation the readable value is the re-sealed one (HubStore+KeyRotation).
                record.details = try (row["details_resealed"] as Data? ?? row["details"] as Data?).map {
                    try open($0, table: "audit_log", column: "details", row: String(seq))
                }
                return AuditEntry(seq: seq, atMillis: row["at_ms"], record: record)
            }
        }
    }
}
