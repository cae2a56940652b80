import Foundation
import Synchronization

/// The in-memory twin of the hub's outbox, following the `OutboxStore` contract (leases included).
public final class InMemoryOutboxStore: OutboxStore {
    /// Where one entry stands.
    public enum Status: Sendable, Equatable {
        case pending(nextAttempt: Date)
        case leased(until: Date)
        case sent(at: Date)
        case failed(error: String)
    }

    /// One entry as the store holds it, for tests and diagnostics.
    public struct Record: Sendable, Equatable {
        public var entry: OutboxEntry
        public var status: Status
        /// The error of the last failed attempt, if any.
        public var lastError: String?
    }

    private struct State {
        var records: [String: Record] = [:]
        var order: [String] = []
    }

    private let state = Mutex(State())
    private let lease: Duration

    /// - Parameter lease: how long an entry handed out by `due` stays invisible to other pollers.
    public init(lease: Duration = .seconds(300)) {
        self.lease = lease
    }

    /// Queues a message, due at `at`. Enqueuing an id that is already queued replaces nothing
    /// and returns false, the way a unique key in the real store would.
    @discardableResult
    public func enqueue(_ message: MailMessage, at: Date = Date()) -> Bool {
        self.state.withLock { state in
            guard state.records[message.id] == nil else { return false }
            state.records[message.id] = Record(entry: OutboxEntry(message: message), status: .pending(nextAttempt: at))
            state.order.append(message.id)
            return true
        }
    }

    /// The record of one entry.
    public func record(_ id: String) -> Record? {
        self.state.withLock { $0.records[id] }
    }

    /// All records, in the order they were enqueued.
    public var records: [Record] {
        self.state.withLock { state in state.order.compactMap { state.records[$0] } }
    }

    public func due(now: Date, limit: Int) async throws -> [OutboxEntry] {
        let leaseEnd = now.addingTimeInterval(self.lease.timeInterval)
        return self.state.withLock { state in
            let ready = state.order.compactMap { id -> (String, Date)? in
                switch state.records[id]?.status {
                case .pending(let next) where next <= now: (id, next)
                case .leased(let until) where until <= now: (id, until)
                default: nil
                }
            }
            // Oldest due first; the stable sort keeps enqueue order among equal times.
            let chosen = ready.enumerated()
                .sorted { ($0.element.1, $0.offset) < ($1.element.1, $1.offset) }
                .prefix(max(0, limit))
                .map(\.element.0)
            return chosen.map { id in
                state.records[id]!.status = .leased(until: leaseEnd)
                return state.records[id]!.entry
            }
        }
    }

    public func markSent(_ id: String, at: Date) async throws {
        self.state.withLock { state in
            state.records[id]?.status = .sent(at: at)
        }
    }

    public func markFailed(_ id: String, attempts: Int, nextAttempt: Date, error: String, permanent: Bool) async throws {
        self.state.withLock { state in
            guard state.records[id] != nil else { return }
            state.records[id]!.entry.attempts = attempts
            state.records[id]!.lastError = error
            state.records[id]!.status = permanent ? .failed(error: error) : .pending(nextAttempt: nextAttempt)
        }
    }
}

extension Duration {
    /// Seconds as a `TimeInterval`, for `Date` arithmetic.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = self.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
