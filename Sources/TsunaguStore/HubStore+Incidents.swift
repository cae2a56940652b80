import Foundation
import GRDB
import TsunaguCore

/// A security incident an operator works on: which organizations it touches, when it was
/// detected, and when their admins were told (the white paper's target: within 72 hours).
public struct Incident: Sendable, Equatable {
    public var id: String
    public var organizations: [OrganizationID]
    public var detectedAtMillis: Int64
    public var openedAtMillis: Int64
    public var notifiedAtMillis: Int64?
    public var closedAtMillis: Int64?
    public var text: String

    /// The notice target: affected admins hear of an incident within 72 hours of its detection.
    public static let noticeTargetMillis: Int64 = 72 * 3_600_000

    /// How long detection → notice took, or has taken so far at `nowMillis` while not notified.
    public func noticeDelayMillis(nowMillis: Int64) -> Int64 {
        (notifiedAtMillis ?? nowMillis) - detectedAtMillis
    }

    /// Whether the notice went out (or, not yet sent, can still go out) within the target.
    public func meetsNoticeTarget(nowMillis: Int64) -> Bool {
        noticeDelayMillis(nowMillis: nowMillis) <= Self.noticeTargetMillis
    }
}

/// Incidents (docs/operations.md, "Notices, incidents and monitors"): opened by an operator,
/// notified to the affected organizations' admins by mail (through the outbox, in the same
/// transaction) and shown to them at `GET /v1/notices`, closed when resolved.
extension HubStore {
    public func openIncident(organizations: [OrganizationID], detectedAtMillis: Int64, text: String) async throws
        -> Incident
    {
        let trimmed = try Self.checkedNoticeText(text)
        let organizations = Array(Set(organizations)).sorted { $0.rawValue < $1.rawValue }
        guard !organizations.isEmpty else { throw StoreError.invalid("name at least one organization") }
        let now = Self.nowMillis()
        guard detectedAtMillis <= now + 60_000 else { throw StoreError.invalid("the detection time is in the future") }
        let id = Self.operationsID("in_")
        try await writeImmediate { [self] db in
            try db.execute(sql: """
                INSERT INTO incidents (id, detected_at, opened_at, text) VALUES (?, ?, ?, ?)
                """, arguments: [id, detectedAtMillis, now, seal(trimmed, table: "incidents", column: "text", row: id)])
            for organization in organizations {
                try db.execute(sql: "INSERT INTO incident_organizations (incident_id, org_id) VALUES (?, ?)",
                               arguments: [id, organization.rawValue])
            }
        }
        return Incident(id: id, organizations: organizations, detectedAtMillis: detectedAtMillis, openedAtMillis: now,
                        notifiedAtMillis: nil, closedAtMillis: nil, text: trimmed)
    }

    /// Tells the affected organizations' admins: queues `mail` to each and records the time.
    /// Notifying again (an update) mails again but keeps the first notice time, which is what
    /// the 72-hour target measures. `notFound` for an unknown id, `conflict` once closed.
    public func notifyIncident(id: String, mail: @escaping @Sendable (Incident) -> OperatorMail) async throws
        -> (incident: Incident, mailed: Int)
    {
        guard let incident = try await self.incident(id: id) else { throw StoreError.notFound("no incident \(id)") }
        guard incident.closedAtMillis == nil else { throw StoreError.conflict("incident \(id) is closed") }
        let now = Self.nowMillis()
        let content = mail(incident)
        let mailed = try await writeImmediate { [self] db -> Int in
            try db.execute(sql: "UPDATE incidents SET notified_at = ? WHERE id = ? AND notified_at IS NULL",
                           arguments: [now, id])
            let recipients = try adminAddresses(db, organizations: incident.organizations)
            for recipient in recipients {
                try enqueueMail(db, recipient: recipient, subject: content.subject, body: content.body, at: now)
            }
            return recipients.count
        }
        var notified = incident
        notified.notifiedAtMillis = incident.notifiedAtMillis ?? now
        return (notified, mailed)
    }

    /// False when there is no such open incident.
    public func closeIncident(id: String) async throws -> Bool {
        let now = Self.nowMillis()
        return try await writeImmediate { db in
            try db.execute(sql: "UPDATE incidents SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
                           arguments: [now, id])
            return db.changesCount > 0
        }
    }

    public func incident(id: String) async throws -> Incident? {
        try await read { [self] db in
            try Row.fetchOne(db, sql: "SELECT * FROM incidents WHERE id = ?", arguments: [id])
                .map { try incidentRecord(db, $0) }
        }
    }

    /// Every incident, the most recently detected first.
    public func incidents() async throws -> [Incident] {
        try await read { [self] db in
            try Row.fetchAll(db, sql: "SELECT * FROM incidents ORDER BY detected_at DESC, id")
                .map { try incidentRecord(db, $0) }
        }
    }

    /// Incidents notified and not closed: what nodes show the affected organizations' admins.
    public func notifiedOpenIncidents() async throws -> [Incident] {
        try await read { [self] db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM incidents WHERE notified_at IS NOT NULL AND closed_at IS NULL ORDER BY detected_at, id
                """).map { try incidentRecord(db, $0) }
        }
    }

    private func incidentRecord(_ db: Database, _ row: Row) throws -> Incident {
        let id: String = row["id"]
        let organizations = try String.fetchAll(db, sql: """
            SELECT org_id FROM incident_organizations WHERE incident_id = ? ORDER BY org_id
            """, arguments: [id]).map { OrganizationID(unchecked: $0) }
        return Incident(id: id, organizations: organizations, detectedAtMillis: row["detected_at"],
                        openedAtMillis: row["opened_at"], notifiedAtMillis: row["notified_at"],
                        closedAtMillis: row["closed_at"],
                        text: try open(row["text"], table: "incidents", column: "text", row: id))
    }
}
