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
