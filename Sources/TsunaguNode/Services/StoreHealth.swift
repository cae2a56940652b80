import Logging
import ServiceLifecycle
import Synchronization
import TsunaguRealtime
import TsunaguStore

/// Readiness checks the store without queueing behind client work: a once-a-second ping records
/// when the store last answered, and `/readyz` reads that. During a reconnect storm a probe that
/// waited for a store read behind thousands of `auth`s would time out and take a healthy node out
/// of every balancer.
final class StoreHealth: Service, Sendable {
    private let store: HubStore
    private let clock: any WallClock
    private let logger: Logger
    private let answeredAt = Atomic<Int64>(0)

    init(store: HubStore, clock: any WallClock, logger: Logger) {
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    /// The store answered a ping within the last 5 s.
    var answeredRecently: Bool { clock.nowMillis - answeredAt.load(ordering: .relaxed) < 5_000 }

    func check() async {
        do {
            try await store.ping()
            answeredAt.store(clock.nowMillis, ordering: .relaxed)
        } catch is CancellationError {
            return  // the node is stopping
        } catch {
            logger.warning("store ping failed", metadata: ["tsunagu.error": "\(error)"])
        }
    }

    func run() async throws {
        try await Periodic.run(every: .seconds(1)) { await self.check() }
    }
}
