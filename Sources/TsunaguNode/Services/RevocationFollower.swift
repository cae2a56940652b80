import Logging
import ServiceLifecycle
import Synchronization
import TsunaguStore

/// Follows the store's revocation table (`HubStore+Revocations`): every `interval` (a second by
/// default) it reads the rows after the last one it has seen and applies each exactly as the
/// peer message would (`NodeContext.apply`): a logout, a disabled user, a password reset or a
/// removed member reaches this node's sockets even when every peer link is down
/// (docs/security.md, "Durable revocation"). It starts at the newest row when the node starts:
/// sockets opened after that are all it can hold. Now and then it prunes rows older than
/// `retention`. A PostgreSQL store can later wake it from LISTEN/NOTIFY instead of the timer
/// alone; the interval stays the fallback.
final class RevocationFollower: Service, Sendable {
    private let context: NodeContext
    private let interval: Duration
    private let retentionMillis: Int64
    /// The last revocation id applied; nil until the starting point is known.
    private let lastSeen: Mutex<Int64?>
    private let pollsSincePrune = Atomic<Int>(0)
    /// Polls between prunes: about every five minutes at the default interval.
    private static let pollsPerPrune = 300

    init(context: NodeContext, interval: Duration, retention: Duration = .seconds(3600), startingAfter id: Int64?) {
        self.context = context
        self.interval = interval
        self.retentionMillis = retention.components.seconds * 1000
        self.lastSeen = Mutex(id)
    }

    func run() async throws {
        try await Periodic.run(every: interval) { [self] in await poll() }
    }

    /// One round: applies every revocation recorded since the last one seen.
    func poll() async {
        let store = context.store
        do {
            guard let after = lastSeen.withLock({ $0 }) else {
                // The store was unreachable when the node started: begin at its newest row now.
                let newest = try await store.latestRevocationID()
                lastSeen.withLock { $0 = $0 ?? newest }
                return
            }
            var cursor = after
            while true {
                let batch = try await store.revocations(after: cursor, limit: 1000)
                for revocation in batch { context.apply(revocation.kind) }
                guard let last = batch.last else { break }
                cursor = last.id
                lastSeen.withLock { $0 = last.id }
                if batch.count < 1000 { break }
            }
            if pollsSincePrune.add(1, ordering: .relaxed).newValue >= Self.pollsPerPrune {
                pollsSincePrune.store(0, ordering: .relaxed)
                try await store.pruneRevocations(before: context.clock.nowMillis - retentionMillis)
            }
        } catch {
            context.logger.warning("revocations not read", metadata: ["tsunagu.error": "\(error)"])
        }
    }
}
