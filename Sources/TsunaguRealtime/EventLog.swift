import TsunaguCore

/// The reads the realtime core makes of the event log (the store's timelines): gap repair,
/// catch-up after `since`, and the sweep's heads. The store is the source of truth: an event
/// reaches a subscriber from here or from a commit on the same node, never from a peer's message.
public protocol EventLog: Sendable {
    /// Events with seq in (after, through], oldest first, at most `limit`.
    func events(timeline: TimelineID, after: Int64, through: Int64, limit: Int) async throws -> [TimelineEvent]
    /// The latest seq of each timeline (absent: no such timeline).
    func heads(of timelines: [TimelineID]) async throws -> [TimelineID: Int64]
}
