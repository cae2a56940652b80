import Synchronization
import TsunaguCore

/// The registry's in-memory twin, for tests: the same life (joining → active → draining → gone)
/// and the same lease rule on a manual clock.
public final class InMemoryNodeRegistry: NodeRegistry {
    private let nodes = Mutex<[NodeID: NodeRecord]>([:])
    private let clock: any WallClock

    public init(clock: any WallClock) { self.clock = clock }

    public func registerNode(id: NodeID, host: String, port: Int, pid: Int?) async throws {
        let now = clock.nowMillis
        nodes.withLock {
            $0[id] = NodeRecord(id: id, host: host, port: port, state: .joining, requestedState: nil,
                                startedAtMillis: now, heartbeatAtMillis: now, connections: 0, subscriptions: 0, pid: pid)
        }
    }

    public func setNodeState(id: NodeID, _ state: NodeState) async throws {
        nodes.withLock { $0[id]?.state = state }
    }

    /// What an operator's `tsunagu nodes drain` does.
    public func requestState(id: NodeID, _ state: NodeState) {
        nodes.withLock { $0[id]?.requestedState = state }
    }

    public func heartbeat(id: NodeID, state: NodeState, connections: Int, subscriptions: Int) async throws -> NodeState? {
        let now = clock.nowMillis
        return nodes.withLock { nodes in
            guard var node = nodes[id] else { return nil }
            node.state = state
            node.heartbeatAtMillis = now
            node.connections = connections
            node.subscriptions = subscriptions
            nodes[id] = node
            return node.requestedState
        }
    }

    public func liveNodes(leaseMillis: Int64) async throws -> [NodeRecord] {
        let now = clock.nowMillis
        return nodes.withLock { nodes in
            nodes.values.filter { $0.state == .active && $0.isAlive(nowMillis: now, leaseMillis: leaseMillis) }
                .sorted { $0.id.rawValue < $1.id.rawValue }
        }
    }
}
