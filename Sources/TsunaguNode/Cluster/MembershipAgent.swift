import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TsunaguCore
import TsunaguRealtime

/// Keeps this node's row in the membership registry: registers as joining, turns active once
/// listening, heartbeats every second with its load, follows the registry to keep peer links to
/// the other live nodes, and starts a drain when an operator asks.
final class MembershipAgent: Service, Sendable {
    private let context: NodeContext
    private let registry: any NodeRegistry
    private let host: String
    private let port: Int
    private let onDrainRequest: @Sendable () -> Void
    private let beats = Mutex(Beats())

    /// Whether heartbeats go on, and who waits for the one in flight to end.
    private struct Beats {
        var stopped = false
        var beating = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    init(context: NodeContext, registry: any NodeRegistry, host: String, port: Int,
         onDrainRequest: @escaping @Sendable () -> Void) {
        self.context = context
        self.registry = registry
        self.host = host
        self.port = port
        self.onDrainRequest = onDrainRequest
    }

    func register() async throws {
        try await registry.registerNode(id: context.nodeID, host: host, port: port,
                                        pid: Int(ProcessInfo.processInfo.processIdentifier))
        try await registry.setNodeState(id: context.nodeID, .active)
    }

    func run() async throws {
        let interval = Duration.nanoseconds(context.configuration.heartbeatInterval.nanoseconds)
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                guard self.beats.withLock({ beats in
                    beats.beating = !beats.stopped
                    return beats.beating
                }) else { break }
                await self.beat()
                let waiting = self.beats.withLock { beats in
                    beats.beating = false
                    defer { beats.waiting = [] }
                    return beats.waiting
                }
                for continuation in waiting { continuation.resume() }
                try await Task.sleep(for: interval)
            }
        }
        // Stopped by a drain: the rest of the node's services go on until the node shuts down.
        try? await gracefulShutdown()
    }

    /// No heartbeat after this returns (a drain marks the node gone, and a late heartbeat must
    /// not mark it draining again).
    func stop() async {
        await withCheckedContinuation { continuation in
            let wait = beats.withLock { beats in
                beats.stopped = true
                if beats.beating { beats.waiting.append(continuation) }
                return beats.beating
            }
            if !wait { continuation.resume() }
        }
    }

    private func beat() async {
        let state: NodeState = context.isDraining ? .draining : .active
        do {
            let requested = try await registry.heartbeat(id: context.nodeID, state: state,
                                                         connections: context.connections.count,
                                                         subscriptions: context.hub.subscriptionCount)
            if (requested == .draining || requested == .gone) && !context.isDraining { onDrainRequest() }
            let live = try await registry.liveNodes(leaseMillis: context.configuration.leaseMillis)
            context.peers?.update(liveNodes: live)
        } catch {
            context.logger.warning("heartbeat failed", metadata: ["tsunagu.error": "\(error)"])
        }
    }
}
