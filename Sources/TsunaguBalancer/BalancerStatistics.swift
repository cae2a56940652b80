import Synchronization

/// A snapshot of the balancer's counters, for tests and a future `/metrics`.
public struct BalancerStatistics: Hashable, Sendable {
    /// Client connections accepted since start.
    public var accepted: Int = 0
    /// Client connections open now (waiting for a backend or spliced).
    public var active: Int = 0
    /// Client connections spliced to each backend, by backend id.
    public var picks: [String: Int] = [:]
    /// Connects to a backend that were refused or timed out (each retry counts).
    public var connectFailures: Int = 0
    /// Client connections closed because no backend was available or every backend failed.
    public var rejected: Int = 0

    public init() {}
}

/// The live counters behind `BalancerStatistics`, updated from every event loop.
final class BalancerCounters: Sendable {
    private let value = Mutex(BalancerStatistics())

    var snapshot: BalancerStatistics {
        self.value.withLock { $0 }
    }

    func accepted() {
        self.value.withLock {
            $0.accepted += 1
            $0.active += 1
        }
    }

    func closed() {
        self.value.withLock { $0.active -= 1 }
    }

    func spliced(to backend: Backend) {
        self.value.withLock { $0.picks[backend.id, default: 0] += 1 }
    }

    func connectFailed() {
        self.value.withLock { $0.connectFailures += 1 }
    }

    func rejected() {
        self.value.withLock { $0.rejected += 1 }
    }
}
