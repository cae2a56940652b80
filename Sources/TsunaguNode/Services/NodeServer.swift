import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import TsunaguCore
import TsunaguCrypto
import TsunaguRealtime
import TsunaguStore
import TsunaguWebSocket

/// A realtime node: one listener serving the JSON API and `GET /v1/ws` (and, for conformance
/// testing only, `/v1/echo`), optionally over TLS, and the services that keep it in step with the
/// store and the cluster. Stateless: everything lasting is in the store.
///
/// As a `Service` (`run`), it serves until the service group shuts down gracefully (SIGTERM,
/// SIGINT) or an operator drains it through the registry, then drains and stops. Tests drive
/// `start`, `drain` and `shutdown` directly.
public final class NodeServer: Service, Sendable {
    public let configuration: NodeConfiguration
    let context: NodeContext
    private let group: MultiThreadedEventLoopGroup
    private let listener = Mutex<(any Channel)?>(nil)
    private let adminListener = Mutex<(any Channel)?>(nil)
    /// The background services (store check, session expiry, membership, repair, mail), run as
    /// one `ServiceGroup` from `start` until `shutdown`.
    private let background = Mutex<(group: ServiceGroup, task: Task<Void, Never>)?>(nil)
    private let membership = Mutex<MembershipAgent?>(nil)
    private let drained = Mutex<[CheckedContinuation<Void, Never>]?>([])
    private let lagProbe: EventLoopLagProbe

    public init(configuration: NodeConfiguration, store: HubStore, passwords: PasswordHasher = PasswordHasher(),
                logger: Logger = Logger(label: "tsunagu.node")) {
        self.configuration = configuration
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        let context = NodeContext(configuration: configuration, store: store,
                                  passwords: PasswordChecker(hasher: passwords), clock: SystemWallClock(), logger: logger,
                                  group: group)
        self.context = context
        self.lagProbe = EventLoopLagProbe { [metrics = context.metrics] in metrics.eventLoopLag.set($0) }
    }

    /// Binds and starts serving; returns the bound port (useful with port 0).
    @discardableResult
    public func start() async throws -> Int {
        context.passwords.start()
        let channel = try await NodeListener.bind(context: context, group: group)
        listener.withLock { $0 = channel }
        let port = channel.localAddress?.port ?? configuration.port
        let admin = try await NodeListener.bindAdmin(context: context, group: group)
        adminListener.withLock { $0 = admin }
        await context.storeHealth.check()
        // Revocations recorded from now on reach this node's sockets from the store (item 4 of
        // docs/security.md); nil (store unreachable) makes the follower start at its first read.
        let revocationStart = try? await context.store.latestRevocationID()
        var services: [any Service] = [context.storeHealth,
                                       SessionExpirySweep(connections: context.connections, clock: context.clock),
                                       RevocationFollower(context: context, interval: configuration.revocationPollInterval,
                                                          startingAfter: revocationStart),
                                       IdleSessionSweep(context: context, interval: configuration.idleSessionSweepInterval)]
        if configuration.peerKey != nil {
            let agent = MembershipAgent(context: context, registry: context.store, host: configuration.host, port: port) {
                [weak self] in
                guard let self else { return }
                Task { await self.drain() }
            }
            try await agent.register()
            // Where Prometheus finds this node (`tsunagu nodes list --json --prometheus-sd`).
            let adminAddress = "\(configuration.adminHost):\(admin.localAddress?.port ?? configuration.adminPort)"
            try await context.store.setAdminAddress(id: configuration.nodeID, address: adminAddress)
            membership.withLock { $0 = agent }
            let interval = Duration.nanoseconds(configuration.heartbeatInterval.nanoseconds)
            services += [agent, RepairSweep(hub: context.hub, interval: interval)]
        }
        if context.store.publishesChangeNotices {
            services.append(StoreChangeNotices(store: context.store, hub: context.hub))
        }
        if let worker = context.mailWorker { services.append(MailService(worker: worker)) }
        services.append(MailRetention(store: context.store, transport: configuration.mailTransport,
                                      lifetimeMillis: configuration.linkLifetimeSeconds * 1000, logger: context.logger))
        services.append(context.noticeBoard)
        lagProbe.start(on: group)
        let serviceGroup = ServiceGroup(services: services, logger: context.logger)
        let task = Task { _ = try? await serviceGroup.run() }
        background.withLock { $0 = (serviceGroup, task) }
        context.logger.info("node listening", metadata: [
            "tsunagu.node": "\(configuration.nodeID)", "tsunagu.address": "\(configuration.host):\(port)",
            "tsunagu.tls": "\(configuration.tls != nil)", "tsunagu.peer_tls": "\(configuration.peerTLS != nil)",
            "tsunagu.admin": "\(configuration.adminHost):\(admin.localAddress?.port ?? configuration.adminPort)",
        ])
        return port
    }

    /// Serves until the group shuts down gracefully or an operator drains the node, then leaves
    /// with zero loss and stops.
    public func run() async throws {
        if listener.withLock({ $0 == nil }) { try await start() }
        await withGracefulShutdownHandler {
            await waitUntilDrained()
        } onGracefulShutdown: { [self] in
            Task { await drain() }
        }
        try await shutdown()
    }

    public var port: Int? { listener.withLock { $0?.localAddress?.port } }
    /// The admin listener's port (`/metrics`, health).
    public var adminPort: Int? { adminListener.withLock { $0?.localAddress?.port } }

    /// Leaves with zero loss: stops accepting (readiness fails, the registry says draining, the
    /// listener closes), tells every client to reconnect after a jittered delay and closes it with
    /// 1001, waits for the connections to end (at most `timeout`), then marks the node gone.
    /// Clients resume on other nodes with `since`.
    public func drain(timeout: Duration = .seconds(10)) async {
        guard !context.isDraining else { return await waitUntilDrained() }
        context.setDraining()
        context.logger.info("draining", metadata: ["tsunagu.node": "\(configuration.nodeID)"])
        if configuration.peerKey != nil { try? await context.store.setNodeState(id: configuration.nodeID, .draining) }
        if let channel = listener.withLock({ $0 }) { try? await channel.close() }
        let jitter = max(1, configuration.drainJitterMillis)
        for connection in context.connections.all {
            let delay = Int.random(in: 0..<jitter)
            connection.connection.eventLoop.execute { connection.drain(afterMillis: delay) }
        }
        let connections = context.connections
        await withTaskGroup(of: Void.self) { waiting in
            waiting.addTask { await connections.waitUntilEmpty() }
            waiting.addTask { try? await Task.sleep(for: timeout) }
            await waiting.next()
            waiting.cancelAll()
        }
        await stopMembership()
        context.peers?.closeAll()
        if configuration.peerKey != nil { try? await context.store.setNodeState(id: configuration.nodeID, .gone) }
        let waiting = drained.withLock { waiting -> [CheckedContinuation<Void, Never>] in
            defer { waiting = nil }
            return waiting ?? []
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Returns once a drain (started here or by an operator through the registry) has finished.
    public func waitUntilDrained() async {
        await withCheckedContinuation { continuation in
            let finished = drained.withLock { waiting -> Bool in
                guard waiting != nil else { return true }
                waiting!.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }

    /// Stops at once: closes the listener, every connection and the event loops (no drain).
    public func shutdown() async throws {
        context.setDraining()
        lagProbe.stop()
        if let (serviceGroup, task) = background.withLock({ $0 }) {
            await serviceGroup.triggerGracefulShutdown()
            await task.value
        }
        context.peers?.closeAll()
        if let channel = listener.withLock({ $0 }) {
            try? await channel.close()
        }
        if let channel = adminListener.withLock({ $0 }) { try? await channel.close() }
        if configuration.peerKey != nil { try? await context.store.setNodeState(id: configuration.nodeID, .gone) }
        try await group.shutdownGracefully()
        try await context.passwords.shutdown()
    }

    /// The membership agent stops heartbeating (the node is leaving the registry).
    private func stopMembership() async {
        guard let agent = membership.withLock({ $0 }) else { return }
        await agent.stop()
    }

    /// Connected peers and open client connections, for tests and `nodes list`.
    public var peerLinkCount: Int { context.peers?.connectedPeers ?? 0 }
    public var clientCount: Int { context.connections.count }
    /// Subscriptions this node's feeds hold, for tests.
    public var subscriptionCount: Int { context.hub.subscriptionCount }

    /// Waits until the listener closes.
    public func wait() async throws {
        if let channel = listener.withLock({ $0 }) { try await channel.closeFuture.get() }
    }
}
