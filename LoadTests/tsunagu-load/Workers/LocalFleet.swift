import NIOCore
import NIOPosix
import TsunaguClient

/// Subscribers on this process's event loops, with their own stats board.
struct LocalFleet: SubscriberFleet {
    let group: MultiThreadedEventLoopGroup
    let board: StatsBoard
    let target: Target
    let timelines: [String]
    let sourceAddresses: [String]
    let share: SubscriberShare
    /// Progress lines while connecting; nil for none.
    let log: (@Sendable (String) -> Void)?

    func connect() async throws -> Int {
        let clock = ContinuousClock()
        let start = clock.now
        var pending: [EventLoopFuture<Void>] = []
        var failed = 0
        // Bounded concurrency: a slow server must not collect thousands of half-open handshakes.
        let maxConcurrentHandshakes = 1000
        var lastProgress = clock.now
        for (n, i) in share.indices.enumerated() {
            let due = start + .seconds(Double(n) / share.ramp)
            if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            if pending.count >= maxConcurrentHandshakes {
                let oldest = pending.removeFirst()
                do { try await oldest.get() } catch { failed += 1 }
            }
            let loop = group.next()
            let timeline = timelines[i % timelines.count]
            let source = target.sourceAddress(from: sourceAddresses, connection: i)
            let (target, board) = (self.target, self.board)
            pending.append(loop.flatSubmit {
                Subscriber.start(index: i, timeline: timeline, target: target, localAddress: source, loop: loop, board: board)
            })
            if let log, clock.now - lastProgress >= .seconds(1) {
                lastProgress = clock.now
                log("  \(n + 1)/\(share.count) connecting")
            }
        }
        for future in pending {
            do { try await future.get() } catch { failed += 1 }
        }
        return failed
    }

    func snapshot(withHistograms: Bool) async throws -> StatsSnapshot {
        try await board.snapshot(withHistograms: withHistograms)
    }

    func checkLoss(highestAcked: [String: Int]) async throws -> LossReport {
        let parts = try await board.onEveryLoop { stats in
            LossChecker.check(stats.subscribers.compactMap { s in s.tracker.map { (timeline: s.timeline, tracker: $0) } },
                              highestAcked: highestAcked)
        }
        return parts.reduce(LossReport(), +)
    }

    func finish() async throws -> StatsSnapshot {
        let final = try await board.snapshot(withHistograms: true)
        _ = try await board.onEveryLoop { stats in
            for s in stats.subscribers { s.finish() }
            return 0
        }
        return final
    }

    func failures() async -> [String] { [] }
}
