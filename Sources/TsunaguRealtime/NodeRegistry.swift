import TsunaguCore

/// The membership registry as a node sees it: register, heartbeat with its load (the answer is
/// the state an operator asked for), and the live nodes to link to. Leases are the registry's
/// business: `liveNodes` answers with the nodes whose heartbeat is within the lease.
public protocol NodeRegistry: Sendable {
    func registerNode(id: NodeID, host: String, port: Int, pid: Int?) async throws
    func setNodeState(id: NodeID, _ state: NodeState) async throws
    /// Records a heartbeat; returns the state an operator requested (drain), if any.
    func heartbeat(id: NodeID, state: NodeState, connections: Int, subscriptions: Int) async throws -> NodeState?
    func liveNodes(leaseMillis: Int64) async throws -> [NodeRecord]
}
