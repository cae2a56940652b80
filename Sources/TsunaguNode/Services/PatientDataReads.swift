import Foundation
import Synchronization
import TsunaguCore
import TsunaguStore

/// Audit entries for reads of patient data (history pages, subscriptions): who viewed which
/// timeline, when and from where (docs/security.md, "Audit log"). Coalesced per session and
/// timeline: at most one entry per `window`, so a live subscription or a client paging through
/// history is one entry, not one per event or page. The entry belongs to the timeline's
/// organization, whose admins are answerable for the patient's data; a reader from another
/// organization gets a second entry in theirs, so both organizations' admins see it.
final class PatientDataReads: Sendable {
    static let window: Int64 = 10 * 60 * 1000
    private struct Key: Hashable {
        var session: SessionID
        var timeline: TimelineID
    }
    private let recorded = Mutex<[Key: Int64]>([:])

    /// Whether this session's read of the timeline has an entry committed within the window.
    func isRecorded(session: SessionID, timeline: TimelineID, now: Int64 = WireTime.nowMillis()) -> Bool {
        recorded.withLock { recorded in
            guard let last = recorded[Key(session: session, timeline: timeline)] else { return false }
            return now - last < Self.window
        }
    }

    /// Notes an entry as committed at `now`.
    private func remember(_ key: Key, now: Int64) {
        recorded.withLock { recorded in
            // Bounded: forget what fell out of the window once the map grows.
            if recorded.count > 50_000 { recorded = recorded.filter { now - $0.value < Self.window } }
            recorded[key] = now
        }
    }

    /// Records `action` ("timeline.read", "timeline.subscribe") unless an entry of this session
    /// and timeline is committed within the window. Callers return no patient data before this
    /// returns: it throws when the entries cannot be written, and then the read must fail (the
    /// next read tries again). The timeline organization's entry and the reader organization's
    /// commit together. Two first reads at once may both write an entry: recorded twice rather
    /// than data returned before its entry commits.
    func record(_ action: String, session: SessionRecord, timeline: TimelineID, source: String?,
                context: NodeContext) async throws {
        let key = Key(session: session.id, timeline: timeline)
        let now = WireTime.nowMillis()
        guard !isRecorded(session: session.id, timeline: timeline, now: now) else { return }
        let owner = try await context.store.timelineOrganization(timeline) ?? session.user.organization
        let details = "session \(session.id.rawValue), reader organization \(session.user.organization.rawValue)"
        // A reader from another organization: their own admins see it too.
        let organizations = owner == session.user.organization ? [owner] : [owner, session.user.organization]
        try await context.store.audit(all: organizations.map { organization in
            context.auditRecord(action, organization: organization, actor: session.user.id, target: timeline.rawValue,
                                source: source, details: details)
        })
        remember(key, now: now)
    }
}
