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
