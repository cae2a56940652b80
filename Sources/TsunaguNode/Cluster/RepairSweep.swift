import ServiceLifecycle

/// Every heartbeat interval (a second by default), compares every locally subscribed timeline
/// with the store's head and repairs the ones behind: the durable path that catches what a lost
/// peer message, a dropped link or a silent peer missed (docs/cluster.md).
struct RepairSweep: Service {
    let hub: SubscriptionHub
    let interval: Duration

    func run() async throws {
        let hub = self.hub
        try await Periodic.run(every: interval) { await hub.sweep() }
    }
}
