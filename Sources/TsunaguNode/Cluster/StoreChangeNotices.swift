import ServiceLifecycle
import TsunaguCore
import TsunaguStore

/// Feeds the store's change notifications (PostgreSQL NOTIFY: timeline and seq ranges, one per
/// committed batch) into the fan-out as "heard up to seq N" hints, exactly like a peer's
/// announcement: a feed that is behind reads the missing events from the store. This catches what
/// a lost peer message or a partitioned peer link missed, within a round trip instead of the next
/// repair sweep. Whenever the listening connection is (re)established the hub sweeps at once,
/// since notifications sent meanwhile were lost. Only on a PostgreSQL store (docs/cluster.md).
struct StoreChangeNotices: Service {
    let store: HubStore
    let hub: SubscriptionHub

    func run() async throws {
        let hub = self.hub
        try await cancelWhenGracefulShutdown {
            await store.listenForChanges(onConnected: { Task { await hub.sweep() } }, onChanges: { ranges in
                for range in ranges {
                    hub.heard(timeline: TimelineID(unchecked: range.timeline), seq: range.last)
                }
            })
        }
    }
}
