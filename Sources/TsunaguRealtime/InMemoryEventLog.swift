import Synchronization
import TsunaguCore

/// The event log's in-memory twin, for tests: append events, read them back like the store does.
/// `failReads` makes every read throw (a store that is unreachable).
public final class InMemoryEventLog: EventLog {
    private struct State {
        var timelines: [TimelineID: [TimelineEvent]] = [:]
        var failReads = false
        var reads: [(timeline: TimelineID, after: Int64, through: Int64)] = []
    }

    public struct Unreachable: Error {}

    private let state = Mutex(State())

    public init() {}

    /// Appends an event with the next seq of its timeline and returns it.
    @discardableResult
    public func append(_ timeline: TimelineID, author: Person, payload: TimelineEvent.Payload,
                       atMillis: Int64 = 0) -> TimelineEvent {
        state.withLock { state in
            let seq = Int64(state.timelines[timeline, default: []].count + 1)
            let event = TimelineEvent(timeline: timeline, seq: seq, atMillis: atMillis, author: author, payload: payload)
            state.timelines[timeline, default: []].append(event)
            return event
        }
    }

    /// The timeline's latest seq, 0 when it has none.
    public func head(_ timeline: TimelineID) -> Int64 {
        state.withLock { Int64($0.timelines[timeline]?.count ?? 0) }
    }

    public var failReads: Bool {
        get { state.withLock { $0.failReads } }
        set { state.withLock { $0.failReads = newValue } }
    }

    /// The ranges read so far, in order (tests assert how many reads a repair cost).
    public var reads: [(timeline: TimelineID, after: Int64, through: Int64)] { state.withLock { $0.reads } }

    public func events(timeline: TimelineID, after: Int64, through: Int64, limit: Int) async throws -> [TimelineEvent] {
        try state.withLock { state in
            if state.failReads { throw Unreachable() }
            state.reads.append((timeline, after, through))
            let all = state.timelines[timeline] ?? []
            return Array(all.lazy.filter { $0.seq > after && $0.seq <= through }.prefix(limit))
        }
    }

    public func heads(of timelines: [TimelineID]) async throws -> [TimelineID: Int64] {
        try state.withLock { state in
            if state.failReads { throw Unreachable() }
            var heads: [TimelineID: Int64] = [:]
            for timeline in timelines { if let events = state.timelines[timeline] { heads[timeline] = Int64(events.count) } }
            return heads
        }
    }
}
