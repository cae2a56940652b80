import Synchronization
import TsunaguCore

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
    /// Client connections refused at accept: their source held `maxConnectionsPerSource`
    /// already, or `maxWaiting` connections were waiting for a backend.
    public var refusedPerSource: Int = 0
    public var refusedWaiting: Int = 0

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

    func connectFailed(_ backend: Backend) {
        self.value.withLock { $0.connectFailures += 1 }
        self.traffic(for: backend).connectFailures.add(1, ordering: .relaxed)
    }

    func refused(_ refusal: ConnectionGate.Refusal) {
        self.value.withLock {
            if refusal == .sourceFull { $0.refusedPerSource += 1 } else { $0.refusedWaiting += 1 }
        }
    }

    private let traffic = Mutex<[String: BackendTraffic]>([:])

    /// The live per-backend counters (created on first use; kept while the process runs, one
    /// small entry per backend id ever seen).
    func traffic(for backend: Backend) -> BackendTraffic {
        self.traffic.withLock { table in
            if let existing = table[backend.id] { return existing }
            let created = BackendTraffic()
            table[backend.id] = created
            return created
        }
    }

    /// Every backend's counters, by id, for `/metrics`.
    var trafficByBackend: [(String, BackendTraffic)] {
        self.traffic.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    func rejected() {
        self.value.withLock { $0.rejected += 1 }
    }
}

/// One backend's traffic, updated by its spliced connections without a lock (atomics), since
/// every read of every connection counts its bytes.
final class BackendTraffic: Sendable {
    /// Spliced connections open now.
    let open = Atomic<Int>(0)
    let bytesToBackend = Atomic<Int>(0)
    let bytesFromBackend = Atomic<Int>(0)
    let connectFailures = Atomic<Int>(0)
}
