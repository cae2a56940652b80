import Foundation
import GRDB
import TsunaguCore

/// What a monitor rule saw: `observed` events (or distinct timelines) within `windowMillis`,
/// at or over `threshold`. Counts and ids only: no names, addresses or contents.
public struct MonitorAlert: Sendable, Equatable {
    public var id: String
    public var organization: OrganizationID
    public var rule: String
    /// The account the rule is about, or nil for an organization-wide rule.
    public var subject: UserID?
    public var atMillis: Int64
    public var observed: Int
    public var threshold: Int
    public var windowMillis: Int64

    public init(id: String = HubStore.operationsID("al_"), organization: OrganizationID, rule: String, subject: UserID?,
                atMillis: Int64, observed: Int, threshold: Int, windowMillis: Int64) {
        self.id = id
        self.organization = organization
        self.rule = rule
        self.subject = subject
        self.atMillis = atMillis
        self.observed = observed
        self.threshold = threshold
        self.windowMillis = windowMillis
    }
}

/// Monitor alerts: recorded with the mail to the organization's admins in one transaction.
extension HubStore {
    /// Records the alert and queues `mail` to the organization's admins; returns how many were mailed.
    @discardableResult
    public func raiseAlert(_ alert: MonitorAlert, mail: OperatorMail) async throws -> Int {
        try await writeImmediate { [self] db -> Int in
            try db.execute(sql: """
                INSERT INTO monitor_alerts (id, org_id, rule, subject, at_ms, observed, threshold, window_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [alert.id, alert.organization.rawValue, alert.rule, alert.subject?.rawValue,
                                 alert.atMillis, alert.observed, alert.threshold, alert.windowMillis])
            let recipients = try adminAddresses(db, organizations: [alert.organization])
            for recipient in recipients {
                try enqueueMail(db, recipient: recipient, subject: mail.subject, body: mail.body, at: alert.atMillis)
            }
            return recipients.count
        }
    }

    /// The organization's alerts, newest first.
    public func alerts(organization: OrganizationID, limit: Int) async throws -> [MonitorAlert] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM monitor_alerts WHERE org_id = ? ORDER BY at_ms DESC, id LIMIT ?
                """, arguments: [organization.rawValue, limit]).map { row in
                MonitorAlert(id: row["id"], organization: OrganizationID(unchecked: row["org_id"]), rule: row["rule"],
                             subject: (row["subject"] as String?).map { UserID(unchecked: $0) }, atMillis: row["at_ms"],
                             observed: row["observed"], threshold: row["threshold"], windowMillis: row["window_ms"])
            }
        }
    }

    /// Which of these timelines are patient timelines (the patient-reads monitor counts only those).
    public func patientTimelines(among timelines: [TimelineID]) async throws -> Set<TimelineID> {
        guard !timelines.isEmpty else { return [] }
        let ids = timelines.map(\.rawValue)
        return try await read { db in
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
            return Set(try String.fetchAll(db, sql: "SELECT id FROM timelines WHERE kind = 'patient' AND id IN (\(marks))",
                                           arguments: SQLArguments(ids)).map { TimelineID(unchecked: $0) })
        }
    }
}
