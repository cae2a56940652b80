import TsunaguClient

/// The subscribers of a run, wherever they live: in this process (`LocalFleet`) or spread over
/// worker processes (`WorkerFleet`). The runner drives both the same way.
protocol SubscriberFleet: Sendable {
    /// Connects and subscribes every subscriber (paced by the ramp); returns how many failed.
    func connect() async throws -> Int
    /// The subscribers' counts and latencies so far, merged.
    func snapshot(withHistograms: Bool) async throws -> StatsSnapshot
    /// Checks every subscription against the highest acknowledged seq per timeline.
    func checkLoss(highestAcked: [String: Int]) async throws -> LossReport
    /// Closes every connection; returns the final counts with histograms.
    func finish() async throws -> StatsSnapshot
    /// Problems of the fleet itself (a worker process that died), for the report.
    func failures() async -> [String]
}

/// Which subscribers a fleet runs: global indices `first`, `first + stride`, … (`count` of them), so
/// that timelines, ports and source addresses are assigned the same way in one process or many.
struct SubscriberShare: Sendable {
    var first = 0
    var stride = 1
    var count: Int
    /// Connections per second for this share.
    var ramp: Double

    var indices: [Int] { (0..<count).map { first + $0 * stride } }

    /// The share of worker `worker` out of `workers`.
    static func of(total: Int, ramp: Double, worker: Int, workers: Int) -> SubscriberShare {
        let count = total / workers + (worker < total % workers ? 1 : 0)
        return SubscriberShare(first: worker, stride: workers, count: count, ramp: ramp / Double(workers))
    }
}
