import NIOCore

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
