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
