import NIOCore

/// A Prometheus histogram for the delivery path: each event loop records into its own buckets,
/// without a lock or an atomic (only that loop touches them), and a scrape collects them by
/// running a task on every loop. Recording is a clock read, a search over a dozen bounds and two
/// additions; the scrape, every 15 s or so, pays for the rest.
///
/// swift-prometheus's histogram takes a lock per sample: fine per request, but the delivery
/// path runs once per event per loop, where a timeline with few subscribers on a loop would pay
/// it for nearly every delivery.
final class LoopLocalHistogram: Sendable {
    /// One loop's buckets; touched only on `loop`.
    private final class Cells: @unchecked Sendable {
        let loop: any EventLoop
        /// Non-cumulative counts per bound, plus one for +Inf.
        var counts: [Int]
        var sum = 0.0

        init(loop: any EventLoop, buckets: Int) {
            self.loop = loop
            self.counts = Array(repeating: 0, count: buckets + 1)
        }
    }

    let name: String
    let help: String
    let bounds: [Double]
    private let cells: [Cells]

    init(name: String, help: String, bounds: [Double], loops: [any EventLoop]) {
        self.name = name
        self.help = help
        self.bounds = bounds
        self.cells = loops.map { Cells(loop: $0, buckets: bounds.count) }
    }

    /// On `loop`, one of the loops given at init (others are not recorded).
    func record(_ value: Double, on loop: any EventLoop) {
        guard let cells = cells.first(where: { $0.loop === loop }) else { return }
        var index = 0
        while index < bounds.count && value > bounds[index] { index += 1 }
        cells.counts[index] += 1
        cells.sum += value
    }

    /// The exposition text, collected from every loop.
    func render() async -> [UInt8] {
        var counts = Array(repeating: 0, count: bounds.count + 1)
        var sum = 0.0
        for cells in cells {
            guard let snapshot = try? await cells.loop.submit({ (cells.counts, cells.sum) }).get() else { continue }
            for index in counts.indices { counts[index] += snapshot.0[index] }
            sum += snapshot.1
        }
        var text = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        var cumulative = 0
        for (index, bound) in bounds.enumerated() {
            cumulative += counts[index]
            text += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += counts[bounds.count]
        text += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n\(name)_sum \(sum)\n\(name)_count \(cumulative)\n"
        return Array(text.utf8)
    }
}
