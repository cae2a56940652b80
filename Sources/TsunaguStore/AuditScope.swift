import Foundation
import Synchronization
import TsunaguCore

/// An audit entry waiting for the write it records (docs/security.md, "Audit log": an entry
/// commits in the same transaction as its action, or the action fails).
final class PendingAudit: Sendable {
    private let state: Mutex<AuditRecord>
    /// The entries the pending one became (`expand`) in the current attempt of the transaction.
    private let expansion = Mutex<[AuditRecord]?>(nil)
    private let written = Atomic<Bool>(false)

    init(_ record: AuditRecord) { state = Mutex(record) }

    var record: AuditRecord { state.withLock { $0 } }

    /// What the transaction appends: the pending entry, or what it was expanded into.
    var entries: [AuditRecord] { expansion.withLock { $0 } ?? [record] }

    /// A transaction body starts (again, after a PostgreSQL retry): an expansion of an attempt
    /// that rolled back does not count.
    func beginAttempt() { expansion.withLock { $0 = nil } }

    /// Replaces the pending entry by the entries `make` derives from it, where only the
    /// transaction knows how many there are and whose: one per organization concerned, or a
    /// second entry for a consequence (an activation link that turned out to reset a password).
    func expand(_ make: (AuditRecord) -> [AuditRecord]) {
        let base = record
        expansion.withLock { $0 = make(base) }
    }

    /// Names whose entry it is, where only the transaction finds out (an activation link's user):
    /// organization, actor and target, each unless already named.
    func nameSubject(organization: OrganizationID, user: UserID) {
        state.withLock { record in
            if record.organization == nil { record.organization = organization }
            if record.actor == nil { record.actor = user }
            if record.target == nil { record.target = user.rawValue }
        }
    }

    /// Names what the action created (an id the caller cannot know before), unless the entry
    /// names a target already.
    func nameTarget(_ target: String) {
        state.withLock { if $0.target == nil { $0.target = target } }
    }

    /// Says which of the outcomes the caller wrapped happened, where only the store decides (an
    /// address added at once rather than invited), before the transaction that writes the entry.
    func retitle(action: String) {
        state.withLock { $0.action = action }
    }

    var isWritten: Bool { written.load(ordering: .acquiring) }
    func markWritten() { written.store(true, ordering: .releasing) }
}

/// The entry the current task's next write transaction must carry.
enum AuditScope {
    @TaskLocal static var pending: PendingAudit?

    /// A store operation names the row it creates (a new timeline's id) in the pending entry.
    static func nameTarget(_ target: String) { unwritten?.nameTarget(target) }

    /// Inside a write transaction: names the user the entry is about, found by the transaction.
    static func nameSubject(organization: OrganizationID, user: UserID) {
        unwritten?.nameSubject(organization: organization, user: user)
    }

    /// Names the outcome the pending entry records (see `PendingAudit.retitle`).
    static func retitle(action: String) { unwritten?.retitle(action: action) }

    /// Inside a write transaction: the entries the pending one becomes (see `PendingAudit.expand`).
    /// `make` gets the pending entry, whose source and node the new entries should carry.
    static func expand(_ make: (AuditRecord) -> [AuditRecord]) { unwritten?.expand(make) }

    /// The pending entry, unless an earlier transaction of the action already committed it.
    static var unwritten: PendingAudit? {
        guard let pending, !pending.isWritten else { return nil }
        return pending
    }
}

extension HubStore {
    /// Runs `action` so that `record` is appended to the audit log inside the first write
    /// transaction the action commits (`writeImmediate`): if the entry cannot be written, that
    /// transaction rolls back and the action throws. An action that commits no write transaction
    /// (a refusal decided by reads) gets its entry on its own afterwards; if that fails, the call
    /// throws.
    public func recording<T>(_ record: AuditRecord, _ action: () async throws -> T) async throws -> T {
        let pending = PendingAudit(record)
        let result = try await AuditScope.$pending.withValue(pending) { try await action() }
        if !pending.isWritten { try await audit(record) }
        return result
    }
}
