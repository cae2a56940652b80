import Foundation
import Logging
import NIOCore
import TsunaguCore
import TsunaguStore

/// Keeps this node's row in the membership registry: registers as joining, turns active once
/// listening, heartbeats every second with its load, follows the registry to keep peer links to
/// the other live nodes, sweeps for missed events, and starts a drain when an operator asks.
final class MembershipAgent: Sendable {
    private let context: NodeContext
    private let host: String
    private let port: Int
    private let onDrainRequest: @Sendable () -> Void

    init(context: NodeContext, host: String, port: Int, onDrainRequest: @escaping @Sendable () -> Void) {
        self.context = context
        self.host = host
        self.port = port
        self.onDrainRequest = onDrainRequest
    }

    func register() async throws {
        try await context.store.registerNode(id: context.nodeID, host: host, port: port,
                                             pid: Int(ProcessInfo.processInfo.processIdentifier))
        try await context.store.setNodeState(id: context.nodeID, .active)
    }

    /// Runs until cancelled.
    func run() async {
        let interval = Duration.nanoseconds(context.configuration.heartbeatInterval.nanoseconds)
        while !Task.isCancelled {
            await beat()
            try? await Task.sleep(for: interval)
        }
    }

    private func beat() async {
        let store = context.store
        let state: NodeState = context.isDraining ? .draining : .active
        let connections = context.clients.withLock { $0.count }
        do {
            let requested = try await store.heartbeat(id: context.nodeID, state: state, connections: connections,
                                                      subscriptions: context.hub.subscriptionCount)
            if (requested == .draining || requested == .gone) && !context.isDraining { onDrainRequest() }
            let live = try await store.liveNodes(leaseMillis: context.configuration.leaseMillis)
            context.peers?.update(liveNodes: live)
        } catch {
            context.logger.warning("heartbeat failed", metadata: ["tsunagu.error": "\(error)"])
        }
        await context.hub.sweep()
    }
}
