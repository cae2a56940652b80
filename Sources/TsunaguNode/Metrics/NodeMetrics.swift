import NIOCore
import Prometheus
import TsunaguCore

/// The node's metrics in Prometheus text format at `GET /metrics` on the admin listener
/// (swift-prometheus). Labels are low-cardinality by rule: operation names, error codes,
/// outcomes, reasons, rule names — never a user, organization or timeline id.
///
/// Recording stays off the per-subscriber path: counters are atomics, and the one histogram on
/// the delivery path is recorded once per event per event loop, not per subscriber
/// (`SubscriptionHub`), into that loop's own buckets (`LoopLocalHistogram`, no lock). Process
/// figures are read at scrape time (docs/operations.md, "What to watch").
final class NodeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let eventsCommitted: Counter
    let receipts: Counter
    let repairs: Counter
    /// Store commit of a post, reaction or call, as the request waits for it.
    let commitSeconds: ValueHistogram
    /// From an event's commit (its `at`) until its frame is handed to the sockets of an event
    /// loop's subscribers, on the node that delivers it (peers' events included).
    let deliverSeconds: LoopLocalHistogram
    /// From the WebSocket upgrade until `auth` succeeded.
    let handshakeAuthSeconds: ValueHistogram
    /// Store reads that repair a gap or catch a subscriber up, by duration.
    let repairReadSeconds: ValueHistogram
    let slowConsumerCloses: Counter
    let throttledLogins: Counter
    let eventLoopLag: Gauge
    private let connections: Gauge
    private let subscriptions: Gauge
    private let peerLinks: Gauge
    private let residentMemory: Gauge
    private let openFiles: Gauge

    /// Seconds: 1 ms to 10 s.
    static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

    /// `loops`: the node's event loops, where deliveries are recorded.
    init(build: BuildInfo = .current, loops: [any EventLoop] = []) {
        eventsCommitted = registry.makeCounter(name: "tsunagu_events_committed_total",
                                               help: "Events committed through this node.")
        receipts = registry.makeCounter(name: "tsunagu_receipts_total", help: "Read markers moved through this node.")
        repairs = registry.makeCounter(name: "tsunagu_repair_reads_total",
                                       help: "Store reads that delivered events committed through other nodes.")
        commitSeconds = registry.makeValueHistogram(name: "tsunagu_commit_seconds", buckets: Self.latencyBuckets,
                                                    help: "Time to commit a post, reaction or call to the store.")
        deliverSeconds = LoopLocalHistogram(
            name: "tsunagu_publish_deliver_seconds", help:
                "From an event's commit until this node hands it to its subscribers' sockets (per event loop).",
            bounds: Self.latencyBuckets, loops: loops)
        handshakeAuthSeconds = registry.makeValueHistogram(
            name: "tsunagu_handshake_auth_seconds", buckets: Self.latencyBuckets,
            help: "From the WebSocket upgrade until a successful auth.")
        repairReadSeconds = registry.makeValueHistogram(
            name: "tsunagu_repair_read_seconds", buckets: Self.latencyBuckets,
            help: "Store reads that repair a feed's gap or catch a subscriber up.")
        slowConsumerCloses = registry.makeCounter(name: "tsunagu_slow_consumer_closes_total",
                                                  help: "Connections closed because their send queue overflowed (4008).")
        throttledLogins = registry.makeCounter(name: "tsunagu_throttled_logins_total",
                                               help: "Logins refused while the address or source is locked.")
        eventLoopLag = registry.makeGauge(name: "tsunagu_event_loop_lag_seconds",
                                          help: "Largest delay of a scheduled probe task over the event loops, last probe.")
        connections = registry.makeGauge(name: "tsunagu_websocket_connections", help: "Open /v1/ws connections.")
        subscriptions = registry.makeGauge(name: "tsunagu_subscriptions", help: "Live timeline subscriptions.")
        peerLinks = registry.makeGauge(name: "tsunagu_peer_links", help: "Connected outbound peer links.")
        residentMemory = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        openFiles = registry.makeGauge(name: "process_open_fds", help: "Open file descriptors.")
        registry.makeGauge(name: "tsunagu_build_info", labels: [("version", build.version), ("commit", build.commit)],
                           help: "The running build; always 1.").set(Double(1))
        // Every family is present from the start, so dashboards and alerts see zeros, not gaps.
        for reason in RefusedConnection.allCases { refusedCounter(reason) }
    }

    /// Counts one answered request by operation and outcome (`ok` or the wire error code).
    func request(_ operation: String, outcome: String) {
        registry.makeCounter(name: "tsunagu_requests_total", labels: [("op", operation), ("outcome", outcome)],
                             help: "Requests answered, by operation and outcome.").increment()
    }

    func login(_ outcome: String) {
        registry.makeCounter(name: "tsunagu_logins_total", labels: [("outcome", outcome)],
                             help: "Login attempts by outcome.").increment()
    }

    /// Why a connection was refused before it could do anything.
    enum RefusedConnection: String, CaseIterable {
        /// A PROXY protocol header from an address that is not a trusted proxy.
        case untrustedProxy = "untrusted_proxy"
        /// No valid `auth` within the deadline (4001).
        case authentication
        /// Over `--max-connections` or `--max-connections-per-source` (503 before anything is read).
        case connectionCap = "connection_cap"
    }

    func refused(_ reason: RefusedConnection) { refusedCounter(reason).increment() }

    /// A connection turned away by `--max-connections` or `--max-connections-per-source`.
    func connectionRefused() { refused(.connectionCap) }

    @discardableResult
    private func refusedCounter(_ reason: RefusedConnection) -> Counter {
        registry.makeCounter(name: "tsunagu_refused_connections_total", labels: [("reason", reason.rawValue)],
                             help: "Connections refused, by reason.")
    }

    /// An alert raised by a monitor rule (docs/operations.md, "Monitors").
    func monitorAlert(_ rule: String) {
        registry.makeCounter(name: "tsunagu_monitor_alerts_total", labels: [("rule", rule)],
                             help: "Monitor alerts raised, by rule.").increment()
    }

    func prepareMonitorRules(_ rules: [String]) {
        for rule in rules {
            _ = registry.makeCounter(name: "tsunagu_monitor_alerts_total", labels: [("rule", rule)],
                                     help: "Monitor alerts raised, by rule.")
        }
    }

    /// The exposition, with the gauges read and the loops' histogram collected at scrape time.
    func scrape(connections: Int, subscriptions: Int, peerLinks: Int) async -> [UInt8] {
        self.connections.set(Double(connections))
        self.subscriptions.set(Double(subscriptions))
        self.peerLinks.set(Double(peerLinks))
        let process = ProcessStatistics.read()
        if let rss = process.residentBytes { residentMemory.set(Double(rss)) }
        if let files = process.openFiles { openFiles.set(Double(files)) }
        return registry.emitToBuffer() + (await deliverSeconds.render())
    }
}
