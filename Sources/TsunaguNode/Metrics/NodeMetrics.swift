import Prometheus
import TsunaguCore

/// The node's metrics in Prometheus text format at `GET /metrics` (swift-prometheus). Labels are
/// low-cardinality by rule: operation names, error codes, outcomes — never a user or timeline id.
final class NodeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let eventsCommitted: Counter
    let receipts: Counter
    let repairs: Counter
    private let connections: Gauge
    private let subscriptions: Gauge
    private let peerLinks: Gauge

    init() {
        eventsCommitted = registry.makeCounter(name: "tsunagu_events_committed_total",
                                               help: "Events committed through this node.")
        receipts = registry.makeCounter(name: "tsunagu_receipts_total", help: "Read markers moved through this node.")
        repairs = registry.makeCounter(name: "tsunagu_repair_reads_total",
                                       help: "Store reads that delivered events committed through other nodes.")
        connections = registry.makeGauge(name: "tsunagu_websocket_connections", help: "Open /v1/ws connections.")
        subscriptions = registry.makeGauge(name: "tsunagu_subscriptions", help: "Live timeline subscriptions.")
        peerLinks = registry.makeGauge(name: "tsunagu_peer_links", help: "Connected outbound peer links.")
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

    /// A connection turned away by `--max-connections` or `--max-connections-per-source`.
    func connectionRefused() {
        registry.makeCounter(name: "tsunagu_connections_refused_total",
                             help: "Connections refused at the connection caps.").increment()
    }

    /// The exposition, with the gauges read at scrape time.
    func scrape(connections: Int, subscriptions: Int, peerLinks: Int) -> [UInt8] {
        self.connections.set(Double(connections))
        self.subscriptions.set(Double(subscriptions))
        self.peerLinks.set(Double(peerLinks))
        return registry.emitToBuffer()
    }
}
