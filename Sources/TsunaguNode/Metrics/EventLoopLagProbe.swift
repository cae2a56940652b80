import NIOCore
import Synchronization

/// Measures how late each event loop runs a task scheduled for a known time: a loop busy with
/// long work (a blocking call, a huge fan-out) delays every connection on it. One probe per loop
/// per `interval`; the gauge shows the largest lateness of the last round.
final class EventLoopLagProbe: Sendable {
    /// When a loop's next probe is due; touched only on that loop.
    private final class Due: @unchecked Sendable {
        var deadline: NIODeadline
        init(_ deadline: NIODeadline) { self.deadline = deadline }
    }

    private let gauge: @Sendable (Double) -> Void
    private let interval: TimeAmount
    private let lags: Mutex<[Int: Int64]> = Mutex([:])
    private let tasks: Mutex<[RepeatedTask]> = Mutex([])

    init(interval: TimeAmount = .seconds(1), gauge: @escaping @Sendable (Double) -> Void) {
        self.interval = interval
        self.gauge = gauge
    }

    func start(on group: any EventLoopGroup) {
        var index = 0
        for loop in group.makeIterator() {
            let due = Due(NIODeadline.now() + interval)
            let probe = index
            // A fixed delay after each run: the next run is due `interval` after this one ends.
            let task = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
                let now = NIODeadline.now()
                let late = max(0, (now - due.deadline).nanoseconds)
                due.deadline = now + interval
                record(loop: probe, lateNanos: late)
            }
            tasks.withLock { $0.append(task) }
            index += 1
        }
    }

    func stop() {
        let running = tasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in running { task.cancel() }
    }

    private func record(loop: Int, lateNanos: Int64) {
        let worst = lags.withLock { lags in
            lags[loop] = lateNanos
            return lags.values.max() ?? 0
        }
        gauge(Double(worst) / 1e9)
    }
}
