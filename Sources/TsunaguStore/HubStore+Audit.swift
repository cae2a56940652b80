import Foundation
import GRDB
import TsunaguCore
import TsunaguCrypto

/// One entry of the audit log (white paper 8.15: privileged actions and logins, protected against
/// tampering).
public struct AuditEntry: Sendable {
    /// Position in the chain.
    public var seq: Int64
    public var atMillis: Int64
    /// What was recorded (details decrypted).
    public var record: AuditRecord
}

/// What to record; the store assigns seq, time and the chain.
public struct AuditRecord: Sendable {
    public var organization: OrganizationID?
    public var actor: UserID?
    public var action: String
    public var target: String?
    public var source: String?
    public var node: String?
    public var details: String?

    public init(organization: OrganizationID?, actor: UserID?, action: String, target: String? = nil,
                source: String? = nil, node: String? = nil, details: String? = nil) {
        self.organization = organization
        self.actor = actor
        self.action = action
        self.target = target
        self.source = source
        self.node = node
        self.details = details
    }
}

/// The audit log is one hash chain over the whole store: each row carries
/// HMAC-SHA-256(chain of the previous row ‖ this row's fields) under a key derived from the master
/// key. Changing, inserting or deleting a row breaks every later link, and without the master key
/// nobody can forge a consistent chain. `verifyAuditChain` walks it.
extension HubStore {
    /// Appends `record` on its own. An entry that records a write belongs in that write's
    /// transaction instead: see `recording`.
    public func audit(_ record: AuditRecord) async throws {
        try await audit(all: [record])
    }

    /// Appends `records` on their own, in one transaction: every one of them, or none.
    public func audit(all records: [AuditRecord]) async throws {
        let now = Self.nowMillis()
        try await AuditScope.$pending.withValue(nil) {
            try await writeImmediate { [self] db in
                for record in records { try appendAudit(db, record, at: now) }
            }
        }
    }

    public func auditSync(_ record: AuditRecord) throws {
        let now = Self.nowMillis()
        try AuditScope.$pending.withValue(nil) {
            try writeImmediateSync { db in try appendAudit(db, record, at: now) }
        }
    }

    /// Runs `action` (synchronous store operations) with `record` committed in its first write
    /// transaction; see `recording`.
    public func recordingSync<T>(_ record: AuditRecord, _ action: () throws -> T) throws -> T {
        let pending = PendingAudit(record)
        let result = try AuditScope.$pending.withValue(pending) { try action() }
        if !pending.isWritten { try auditSync(record) }
        return result
    }

    func appendAudit(_ db: Database, _ record: AuditRecord, at: Int64) throws {
        // One chain: on PostgreSQL concurrent appenders on any node take turns here (SQLite's
        // IMMEDIATE transaction already holds the whole database).
        try db.dialect.serialize(db, .auditChain)
        let last = try Row.fetchOne(db, sql: "SELECT seq, chain FROM audit_log ORDER BY seq DESC LIMIT 1")
        let seq = (last?["seq"] as Int64? ?? 0) + 1
        let previous: Data = last?["chain"] ?? Data()
        let details = record.details.map { seal($0, table: "audit_log", column: "details", row: String(seq)) }
        let chain = auditChain(previous: previous, seq: seq, at: at, record: record, details: details)
        try db.execute(sql: """
            INSERT INTO audit_log (seq, at_ms, org_id, actor_id, action, target, source, node, details, chain)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [seq, at, record.organization?.rawValue, record.actor?.rawValue, record.action,
                             record.target, record.source, record.node, details, chain])
    }

    private func auditChain(previous: Data, seq: Int64, at: Int64, record: AuditRecord, details: Data?) -> Data {
        // Length-prefixed fields, so that no two different rows encode alike.
        var message = [UInt8](previous)
        func field(_ bytes: [UInt8]) {
            withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { message.append(contentsOf: $0) }
            message.append(contentsOf: bytes)
        }
        for text in [String(seq), String(at), record.organization?.rawValue ?? "", record.actor?.rawValue ?? "",
                     record.action, record.target ?? "", record.source ?? "", record.node ?? ""] {
            field(Array(text.utf8))
        }
        field(details.map { [UInt8]($0) } ?? [])
        return Data(HMAC.sha256(key: auditKey, data: message))
    }

    /// Walks the whole chain; returns nil when intact, else the first seq where it breaks.
    public func verifyAuditChain() async throws -> (checked: Int, brokenAt: Int64?) {
        try await read { [self] db in
            var previous = Data()
            var expectedSeq: Int64 = 1
            var checked = 0
            var after = Int64.min
            // In pages, from one snapshot: the log can be longer than memory would like.
            while case let rows = try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 1000",
                                                   arguments: [after]), !rows.isEmpty {
                after = rows.last!["seq"]
                for row in rows {
                    let seq: Int64 = row["seq"]
                    let record = Self.auditRecord(row)
                    let expected = auditChain(previous: previous, seq: seq, at: row["at_ms"], record: record,
                                              details: row["details"])
                    let stored: Data = row["chain"]
                    guard seq == expectedSeq, stored == expected else { return (checked, seq) }
                    previous = stored
                    expectedSeq += 1
                    checked += 1
                }
            }
            return (checked, nil)
        }
    }

    /// The row's fields other than the (encrypted) details.
    private static func auditRecord(_ row: Row) -> AuditRecord {
        AuditRecord(organization: (row["org_id"] as String?).map(OrganizationID.init(unchecked:)),
                    actor: (row["actor_id"] as String?).map(UserID.init(unchecked:)), action: row["action"],
                    target: row["target"], source: row["source"], node: row["node"])
    }

    /// An organization's entries between two instants, oldest first, details decrypted.
    public func auditEntries(organization: OrganizationID, fromMillis: Int64, toMillis: Int64, limit: Int) async throws
        -> [AuditEntry]
    {
        try await read { [self] db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM audit_log WHERE org_id = ? AND at_ms >= ? AND at_ms <= ? ORDER BY seq LIMIT ?
                """, arguments: [organization.rawValue, fromMillis, toMillis, limit]).map { row in
                let seq: Int64 = row["seq"]
                var record = Self.auditRecord(row)
                // After a data-key rotation the readable value is the re-sealed one; `details`
                // keeps the ciphertext the chain commits to (HubStore+KeyRotation.swift).
                record.details = try (row["details_resealed"] as Data? ?? row["details"] as Data?).map {
                    try open($0, table: "audit_log", column: "details", row: String(seq))
                }
                return AuditEntry(seq: seq, atMillis: row["at_ms"], record: record)
            }
        }
    }
}
