import Histogram
import TsunaguClient

/// What all loops counted, merged.
struct StatsSnapshot: Sendable {
    var delivered = 0
    var loadDelivered = 0
    var postsSent = 0
    var postsAcked = 0
    var postErrors: [String: Int] = [:]
    var subscribed = 0
    var connectFailures = 0
    var unexpectedCloses = 0
    var reconnectRequests = 0
    var unparsable = 0
    var inflightPosts = 0
    var errorSamples: [String] = []
    var highestAcked: [String: Int] = [:]
    /// Resilient clients (--reconnect): live connections lost, subscribers subscribed again, failed attempts.
    var connectionLosses = 0
    var reconnects = 0
    var reconnectFailures = 0
    var publisherReconnects = 0
    /// Events replayed after a resubscribe that the subscriber already held (deduped by seq).
    var redelivered = 0
    /// Unanswered posts sent again after a publisher reconnected.
    var postRetries = 0
    /// Subscribers lost and not subscribed again (at the time of the snapshot).
    var notRecovered = 0
    /// The first connection loss and the last resubscription, in monotonic ns (UInt64.max / 0 when none).
    var firstLossNs = UInt64.max
    var lastRecoveryNs: UInt64 = 0
    var delivery = makeLatencyHistogram()
    var ack = makeLatencyHistogram()
    var connect = makeLatencyHistogram()
    /// From a connection loss to subscribed again.
    var reconnect = makeLatencyHistogram()

    /// From the first loss to the moment every lost subscriber was back; nil without losses.
    var recoverySeconds: Double? {
        guard firstLossNs != .max else { return nil }
        return lastRecoveryNs > firstLossNs ? Double(lastRecoveryNs - firstLossNs) / 1e9 : 0
    }

    var postErrorCount: Int { postErrors.values.reduce(0, +) }

    mutating func merge(_ o: StatsSnapshot) {
        delivered += o.delivered
        loadDelivered += o.loadDelivered
        postsSent += o.postsSent
        postsAcked += o.postsAcked
        postErrors.merge(o.postErrors, uniquingKeysWith: +)
        subscribed += o.subscribed
        connectFailures += o.connectFailures
        unexpectedCloses += o.unexpectedCloses
        reconnectRequests += o.reconnectRequests
        unparsable += o.unparsable
        inflightPosts += o.inflightPosts
        for e in o.errorSamples where errorSamples.count < 5 && !errorSamples.contains(e) { errorSamples.append(e) }
        highestAcked.merge(o.highestAcked, uniquingKeysWith: max)
        connectionLosses += o.connectionLosses
        reconnects += o.reconnects
        reconnectFailures += o.reconnectFailures
        publisherReconnects += o.publisherReconnects
        redelivered += o.redelivered
        postRetries += o.postRetries
        notRecovered += o.notRecovered
        firstLossNs = min(firstLossNs, o.firstLossNs)
        lastRecoveryNs = max(lastRecoveryNs, o.lastRecoveryNs)
        delivery.add(o.delivery)
        ack.add(o.ack)
        connect.add(o.connect)
        reconnect.add(o.reconnect)
    }
}
