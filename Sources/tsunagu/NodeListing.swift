import TsunaguCore
import TsunaguStore

/// `tsunagu nodes list --json` and its Prometheus file_sd form (docs/operations.md,
/// "Metrics"): what monitoring needs to find every node's admin listener.
struct NodeListing {
    let nodes: [NodeRecord]
    let adminAddresses: [NodeID: String]
    let nowMillis: Int64
    let time: WireTime

    /// `dead` when an active or draining node's heartbeat is older than the lease.
    func state(of node: NodeRecord) -> String {
        if node.state == .gone { return "gone" }
        return node.isAlive(nowMillis: nowMillis, leaseMillis: HubStore.defaultLeaseMillis) ? node.state.rawValue : "dead"
    }

    /// `[{"id","address","admin_address","state","started","heartbeat","heartbeat_age_ms","connections","subscriptions"}]`
    func json() -> String {
        var w = JSONWriter()
        w.beginArray()
        for node in nodes {
            w.beginObject()
            w.field("id", node.id.rawValue)
            w.field("address", "\(node.host):\(node.port)")
            w.key("admin_address")
            if let admin = adminAddresses[node.id] { w.string(admin) } else { w.null() }
            w.field("state", state(of: node))
            w.field("started", time.format(millis: node.startedAtMillis))
            w.field("heartbeat", time.format(millis: node.heartbeatAtMillis))
            w.field("heartbeat_age_ms", max(0, nowMillis - node.heartbeatAtMillis))
            w.field("connections", node.connections)
            w.field("subscriptions", node.subscriptions)
            w.endObject()
        }
        w.endArray()
        return w.string
    }

    /// Prometheus file_sd: one target group per live node with an admin listener, labelled with
    /// the node id (a handful of nodes: a low-cardinality label).
    func prometheusTargets() -> String {
        var w = JSONWriter()
        w.beginArray()
        for node in nodes where ["joining", "active", "draining"].contains(state(of: node)) {
            guard let admin = adminAddresses[node.id] else { continue }
            w.beginObject()
            w.key("targets")
            w.value(.array([.string(admin)]))
            w.key("labels")
            w.value(.object(["node": .string(node.id.rawValue), "tsunagu_state": .string(state(of: node))]))
            w.endObject()
        }
        w.endArray()
        return w.string
    }
}
