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

    /// Reserves the entry of this read; false when one was recorded within the window.
    private func reserve(_ key: Key, now: Int64) -> Bool {
        recorded.withLock { recorded in
            if let last = recorded[key], now - last < Self.window { return false }
            // Bounded: forget what fell out of the window once the map grows.
            if recorded.count > 50_000 { recorded = recorded.filter { now - $0.value < Self.window } }
            recorded[key] = now
            return true
        }
    }

    private func release(_ key: Key) { _ = recorded.withLock { $0.removeValue(forKey: key) } }

    /// Records `action` ("timeline.read", "timeline.subscribe") unless coalesced. Throws when the
    /// entry cannot be written (then the next read tries again).
    func record(_ action: String, session: SessionRecord, timeline: TimelineID, source: String?,
                context: NodeContext) async throws {
        let key = Key(session: session.id, timeline: timeline)
        guard reserve(key, now: WireTime.nowMillis()) else { return }
        do {
            let owner = try await context.store.timelineOrganization(timeline) ?? session.user.organization
            let details = "session \(session.id.rawValue), reader organization \(session.user.organization.rawValue)"
            try await context.audit(action, organization: owner, actor: session.user.id, target: timeline.rawValue,
                                    source: source, details: details)
            // A reader from another organization: their own admins see it too.
            if owner != session.user.organization {
                try await context.audit(action, organization: session.user.organization, actor: session.user.id,
                                        target: timeline.rawValue, source: source, details: details)
            }
        } catch {
            release(key)
            throw error
        }
    }
}
