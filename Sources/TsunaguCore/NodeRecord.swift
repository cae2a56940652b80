/// A node's life in the membership registry: joining → active → draining → gone.
public enum NodeState: String, Sendable, Codable, CaseIterable {
    case joining, active, draining, gone
}

/// One row of the membership registry, as read at `readAtMillis`.
public struct NodeRecord: Sendable, Equatable {
    public var id: NodeID
    public var host: String
    public var port: Int
    public var state: NodeState
    public var requestedState: NodeState?
    public var startedAtMillis: Int64
    public var heartbeatAtMillis: Int64
    public var connections: Int
    public var subscriptions: Int
    public var pid: Int?

    public init(id: NodeID, host: String, port: Int, state: NodeState, requestedState: NodeState?,
                startedAtMillis: Int64, heartbeatAtMillis: Int64, connections: Int, subscriptions: Int, pid: Int?) {
        self.id = id
        self.host = host
        self.port = port
        self.state = state
        self.requestedState = requestedState
        self.startedAtMillis = startedAtMillis
        self.heartbeatAtMillis = heartbeatAtMillis
        self.connections = connections
        self.subscriptions = subscriptions
        self.pid = pid
    }

    /// Alive while its heartbeat is younger than the lease.
    public func isAlive(nowMillis: Int64, leaseMillis: Int64) -> Bool {
        state != .gone && nowMillis - heartbeatAtMillis <= leaseMillis
    }
}
