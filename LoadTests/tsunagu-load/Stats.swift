import Histogram
import NIOCore
import TsunaguClient

/// Latencies in microseconds, up to 10 minutes, 3 significant digits.
typealias LatencyHistogram = Histogram<UInt64>

func makeLatencyHistogram() -> LatencyHistogram {
    LatencyHistogram(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
}

extension LatencyHistogram {
    /// Records a nanosecond duration, clamped into the trackable range.
    mutating func recordNanoseconds(_ ns: UInt64) {
        _ = record(Swift.min(Swift.max(ns / 1000, 1), 600_000_000))
    }
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC, one clock for every process on this machine), so a send
/// time in a publisher and a receive time in a worker process compare directly.
@inline(__always) func monotonicNanoseconds() -> UInt64 {
    UInt64(NIODeadline.now().uptimeNanoseconds)
}

/// Counters and histograms of one event loop; touched only on that loop.
final class LoopStats {
    /// This loop's counts, in the same shape as the merged result.
    var counts = StatsSnapshot()
    var subscribers: [Subscriber] = []
    var publishers: [Publisher] = []

    func noteError(_ message: String) {
        if counts.errorSamples.count < 5 && !counts.errorSamples.contains(message) { counts.errorSamples.append(message) }
    }

    func snapshot(withHistograms: Bool) -> StatsSnapshot {
        var s = counts
        s.inflightPosts = publishers.reduce(0) { $0 + $1.inflightCount }
        s.notRecovered = subscribers.reduce(0) { $0 + ($1.isDown ? 1 : 0) }
        if !withHistograms {
            s.delivery = makeLatencyHistogram()
            s.ack = makeLatencyHistogram()
            s.connect = makeLatencyHistogram()
            s.reconnect = makeLatencyHistogram()
        }
        return s
    }
}

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

/// One `LoopStats` per event loop of the group.
final class StatsBoard: Sendable {
    private let loops: [ObjectIdentifier: NIOLoopBound<LoopStats>]
    private let eventLoops: [any EventLoop]

    /// Call off the loops: builds each loop's stats on that loop.
    init(group: any EventLoopGroup) async throws {
        var loops: [ObjectIdentifier: NIOLoopBound<LoopStats>] = [:]
        var eventLoops: [any EventLoop] = []
        for loop in group.makeIterator() {
            loops[ObjectIdentifier(loop)] = try await loop.submit { NIOLoopBound(LoopStats(), eventLoop: loop) }.get()
            eventLoops.append(loop)
        }
        self.loops = loops
        self.eventLoops = eventLoops
    }

    /// The stats of `loop`; call on that loop.
    func stats(on loop: any EventLoop) -> LoopStats {
        loops[ObjectIdentifier(loop)]!.value
    }

    /// Runs `body` on every loop with its stats and collects the results.
    func onEveryLoop<T: Sendable>(_ body: @escaping @Sendable (LoopStats) -> T) async throws -> [T] {
        var results: [T] = []
        for loop in eventLoops {
            let bound = loops[ObjectIdentifier(loop)]!
            results.append(try await loop.submit { body(bound.value) }.get())
        }
        return results
    }

    func snapshot(withHistograms: Bool) async throws -> StatsSnapshot {
        var total = StatsSnapshot()
        for s in try await onEveryLoop({ $0.snapshot(withHistograms: withHistograms) }) { total.merge(s) }
        return total
    }
}
