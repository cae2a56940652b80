import ServiceLifecycle
import TsunaguCore
import TsunaguStore

/// Feeds the store's change notifications (PostgreSQL NOTIFY: timeline and seq ranges, one per
/// committed batch) into the fan-out as "committed up to seq N" notices: a feed that is still
/// behind once the hold time (20 ms) has passed reads the missing events from the store. The
/// frames themselves usually come over the committing node's peer link meanwhile; the notice
/// catches what a lost peer message or a partitioned peer link missed, within the hold time
/// instead of the next repair sweep. Whenever the listening connection is (re)established the hub sweeps at once,
/// since notifications sent meanwhile were lost. Only on a PostgreSQL store (docs/cluster.md).
struct StoreChangeNotices: Service {
    let store: HubStore
    let hub: SubscriptionHub

    func run() async throws {
        let hub = self.hub
        try await cancelWhenGracefulShutdown {
            await store.listenForChanges(onConnected: { Task { await hub.sweep() } }, onChanges: { ranges in
                for range in ranges {
                    hub.noticed(timeline: TimelineID(unchecked: range.timeline), seq: range.last)
                }
            })
        }
    }
}
