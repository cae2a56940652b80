import Foundation
import GRDB
import TsunaguCore

/// The registry lives in the shared store (docs/architecture.md): nodes register themselves and heartbeat every
/// second; a node whose heartbeat is older than the lease is dead to the balancer and its peers.
/// Heartbeats are stamped, and leases judged, by the database's clock (`SQLDialect.nowMillisSQL`):
/// nodes on several hosts need not agree on the time.
extension HubStore {
    public static let defaultLeaseMillis: Int64 = 3000

    /// Registers (or re-registers after a restart) a node as joining.
    public func registerNode(id: NodeID, host: String, port: Int, pid: Int?) async throws {
        try await writeImmediate { db in
            let now = db.dialect.nowMillisSQL
            try db.execute(sql: """
                INSERT INTO nodes (id, host, port, state, requested_state, started_at, heartbeat_at, pid)
                VALUES (?, ?, ?, 'joining', NULL, \(now), \(now), ?)
                ON CONFLICT (id) DO UPDATE SET host = excluded.host, port = excluded.port, state = 'joining',
                  requested_state = NULL, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                  pid = excluded.pid, connections = 0, subscriptions = 0
                """, arguments: [id.rawValue, host, port, pid])
        }
    }

    /// Records a heartbeat with the node's state and load; returns what an operator asked of it
    /// (e.g. `.draining` after `tsunagu nodes drain`).
    public func heartbeat(id: NodeID, state: NodeState, connections: Int, subscriptions: Int) async throws -> NodeState? {
        return try await writeImmediate { db in
            try db.execute(sql: """
                UPDATE nodes SET state = ?, heartbeat_at = \(db.dialect.nowMillisSQL), connections = ?, subscriptions = ?
                WHERE id = ?
                """, arguments: [state.rawValue, connections, subscriptions, id.rawValue])
            if db.changesCount == 0 { return .gone }  // removed by an operator
            return try String.fetchOne(db, sql: "SELECT requested_state FROM nodes WHERE id = ?",
                                       arguments: [id.rawValue]).flatMap(NodeState.init)
        }
    }

    public func setNodeState(id: NodeID, _ state: NodeState) async throws {
        try await writeImmediate { db in
            try db.execute(sql: "UPDATE nodes SET state = ?, heartbeat_at = \(db.dialect.nowMillisSQL) WHERE id = ?",
                           arguments: [state.rawValue, id.rawValue])
        }
    }

    /// Asks a node to drain; it sees the request at its next heartbeat. False when no such node.
    public func requestDrain(id: NodeID) async throws -> Bool {
        try await writeImmediate { db in
            try db.execute(sql: "UPDATE nodes SET requested_state = 'draining' WHERE id = ? AND state <> 'gone'",
                           arguments: [id.rawValue])
            return db.changesCount > 0
        }
    }

    /// Removes a node's row. A live node that is removed sees `.gone` at its next heartbeat and drains.
    public func removeNode(id: NodeID) async throws -> Bool {
        try await writeImmediate { db in
            try db.execute(sql: "DELETE FROM nodes WHERE id = ?", arguments: [id.rawValue])
            return db.changesCount > 0
        }
    }

    /// Every registered node, oldest first.
    public func nodes() async throws -> [NodeRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM nodes ORDER BY started_at, id").map(Self.nodeRecord)
        }
    }

    /// Nodes that are active with a fresh heartbeat: where the balancer sends clients and peers send events.
    public func liveNodes(leaseMillis: Int64 = defaultLeaseMillis) async throws -> [NodeRecord] {
        let (now, nodes) = try await nodesWithDatabaseTime()
        return nodes.filter { $0.state == .active && $0.isAlive(nowMillis: now, leaseMillis: leaseMillis) }
    }

    /// Every registered node and the database's clock, read together: judge leases by this clock
    /// (the one that stamped the heartbeats), not the caller's.
    public func nodesWithDatabaseTime() async throws -> (nowMillis: Int64, nodes: [NodeRecord]) {
        try await read { db in
            let now = try Int64.fetchOne(db, sql: "SELECT \(db.dialect.nowMillisSQL)") ?? Self.nowMillis()
            return (now, try Row.fetchAll(db, sql: "SELECT * FROM nodes ORDER BY started_at, id").map(Self.nodeRecord))
        }
    }

    private static func nodeRecord(_ row: Row) -> NodeRecord {
        NodeRecord(
            id: NodeID(row["id"]), host: row["host"], port: row["port"],
            state: NodeState(rawValue: row["state"]) ?? .gone,
            requestedState: (row["requested_state"] as String?).flatMap(NodeState.init),
            startedAtMillis: row["started_at"], heartbeatAtMillis: row["heartbeat_at"],
            connections: row["connections"], subscriptions: row["subscriptions"], pid: row["pid"])
    }

    /// Latest heads of the given timelines, for the repair sweep.
    public func heads(of timelines: [TimelineID]) async throws -> [TimelineID: Int64] {
        guard !timelines.isEmpty else { return [:] }
        let ids = timelines.map(\.rawValue)
        return try await read { db in
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
            var heads: [TimelineID: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, head FROM timelines WHERE id IN (\(marks))",
                                        arguments: SQLArguments(ids)) {
                heads[TimelineID(unchecked: row["id"])] = row["head"]
            }
            return heads
        }
    }
}
