import Synchronization
import TsunaguCore
import TsunaguStore

/// Events committed through *other* nodes reach this one as notifications "timeline T has seq S"
/// (from a peer link) or as a head seen by the repair sweep. The hub then reads the missing range
/// from the store and publishes it exactly as local events: the store is the source of truth, a
/// peer message carries no content and cannot inject any, and a lost one costs only latency.
extension SubscriptionHub {
    /// The timeline has at least `seq` committed: fetch and publish what this node has not released.
    func notifyCommitted(timeline: TimelineID, seq: Int64) {
        guard let last = lastReleased(timeline), seq > (last ?? 0) else { return }
        let start = repairs.withLock { repairs -> Bool in
            var state = repairs[timeline] ?? RepairState()
            state.target = max(state.target, seq)
            defer { repairs[timeline] = state }
            if state.running { return false }
            state.running = true
            return true
        }
        guard start else { return }
        Task { await repair(timeline) }
    }

    /// One repair loop per timeline at a time; later notifications raise its target.
    private func repair(_ timeline: TimelineID) async {
        while true {
            let target = repairs.withLock { $0[timeline]?.target ?? 0 }
            guard let released = lastReleased(timeline) else { break }  // no local subscribers left
            let from = released ?? (target - 1)
            if from >= target { break }
            do {
                let events = try await store.events(timeline: timeline, after: from, through: target, limit: 500)
                if events.isEmpty { break }
                onRepairRead()
                for event in events { publish(event) }
            } catch {
                logger.warning("repair from the store failed", metadata: ["tsunagu.error": "\(error)"])
                break
            }
        }
        // Clear `running`; a notification that raced the last check starts a new loop.
        let again = repairs.withLock { repairs -> Bool in
            guard var state = repairs[timeline] else { return false }
            state.running = false
            let released = lastReleased(timeline) ?? nil
            if let released, state.target > released {
                state.running = true
                repairs[timeline] = state
                return true
            }
            repairs[timeline] = nil
            return false
        }
        if again { Task { await repair(timeline) } }
    }

    /// Compares every locally subscribed timeline with the store's head and repairs the ones
    /// behind: covers lost peer messages, dropped links and silent peers. Run every second.
    func sweep() async {
        let timelines = subscribedTimelines()
        guard !timelines.isEmpty else { return }
        do {
            for (timeline, head) in try await store.heads(of: timelines) {
                notifyCommitted(timeline: timeline, seq: head)
            }
        } catch {
            logger.warning("repair sweep failed", metadata: ["tsunagu.error": "\(error)"])
        }
    }
}

struct RepairState {
    var target: Int64 = 0
    var running = false
}
