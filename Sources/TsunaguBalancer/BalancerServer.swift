import Logging
import NIOCore
import NIOPosix
import Synchronization
import TsunaguCore

/// The `tsunagu balance` server: accepts client TCP connections and splices each to a realtime
/// node picked round robin among those that are in the membership directory and ready.
///
/// Lifetimes: `start()` creates the event loops, reads the directory once, probes its members,
/// binds, and starts the directory poll; `shutdown()` stops accepting first, then stops the poll
/// and the probes, then closes spliced connections with the event loops.
public final class BalancerServer: Sendable {
    private enum State {
        case idle
        case running(Running)
        case stopped
    }

    private struct Running {
        var group: MultiThreadedEventLoopGroup
        var listener: any Channel
        var admin: any Channel
        var pool: BackendPool
        var directoryPoll: Task<Void, Never>
    }

    private let configuration: BalancerConfiguration
    private let directory: any BackendDirectory
    private let logger: Logger
    private let counters = BalancerCounters()
    private let state = Mutex(State.idle)

    public init(
        configuration: BalancerConfiguration,
        directory: any BackendDirectory,
        logger: Logger = Logger(label: "tsunagu.balancer")
    ) {
        self.configuration = configuration
        self.directory = directory
        self.logger = logger
    }

    /// The counters: accepted, active, picks per backend id, connect failures, rejected clients.
    public var statistics: BalancerStatistics {
        self.counters.snapshot
    }

    /// The admin listener's port (`/metrics`, `/healthz`, `/readyz`), once started.
    public var adminPort: Int? {
        self.state.withLock { state in
            guard case .running(let running) = state else { return nil }
            return running.admin.localAddress?.port
        }
    }

    /// Backends that new connections may go to now (in the directory and ready), ordered by id.
    public var readyBackends: [Backend] {
        let pool: BackendPool? = self.state.withLock { state in
            guard case .running(let running) = state else { return nil }
            return running.pool
        }
        return pool?.readyBackends ?? []
    }

    /// Starts accepting. Returns the bound port (useful with port 0).
    ///
    /// Before binding, the directory is read once and its members probed once, so the balancer
    /// can serve from its first connection. A directory that fails then is logged and retried at
    /// the next poll; it does not fail the start.
    @discardableResult
    public func start() async throws -> Int {
        let claimed = self.state.withLock { state -> Bool in
            guard case .idle = state else { return false }
            state = .stopped  // claimed; set to .running below, or left stopped if start fails
            return true
        }
        guard claimed else { throw BalancerError.alreadyStarted }

        let configuration = self.configuration
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        let pool = BackendPool(
            group: group,
            healthInterval: configuration.healthInterval,
            healthTimeout: configuration.healthTimeout,
            logger: self.logger
        )
        do {
            await Self.refresh(pool, from: self.directory, logger: self.logger)
            let listener = try await self.bind(group: group, pool: pool)
            let port = listener.localAddress?.port ?? configuration.port
            let admin: any Channel
            do {
                admin = try await BalancerAdminListener.bind(
                    host: configuration.adminHost, port: configuration.adminPort, group: group,
                    metrics: { [counters = self.counters] in BalancerMetrics.exposition(counters) },
                    ready: { !pool.readyBackends.isEmpty })
            } catch {
                try? await listener.close()
                throw error
            }
            let directoryPoll = Task { [directory, logger] in
                await Self.pollDirectory(directory, into: pool, every: configuration.directoryRefresh, logger: logger)
            }
            self.state.withLock {
                $0 = .running(Running(group: group, listener: listener, admin: admin, pool: pool, directoryPoll: directoryPoll))
            }
            self.logger.info(
                "balancer listening",
                metadata: ["balancer.host": "\(configuration.host)", "balancer.port": "\(port)",
                           "balancer.admin": "\(configuration.adminHost):\(admin.localAddress?.port ?? configuration.adminPort)"]
            )
            return port
        } catch {
            pool.stop()
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops accepting, stops following the directory, closes spliced connections, stops the
    /// event loops. Does nothing on a server that is not running.
    public func shutdown() async throws {
        let running: Running? = self.state.withLock { state in
            guard case .running(let running) = state else { return nil }
            state = .stopped
            return running
        }
        guard let running else { return }
        try? await running.listener.close()
        try? await running.admin.close()
        running.directoryPoll.cancel()
        await running.directoryPoll.value
        running.pool.stop()
        try await running.group.shutdownGracefully()
        self.logger.info("balancer stopped")
    }

    private func bind(group: MultiThreadedEventLoopGroup, pool: BackendPool) async throws -> any Channel {
        let counters = self.counters
        let logger = self.logger
        // One gate counts each source's open connections; the other (its total only) the
        // connections still waiting for a backend.
        let sources = ConnectionGate(maxConnections: Int.max, maxPerSource: self.configuration.maxConnectionsPerSource)
        let waiting = ConnectionGate(maxConnections: self.configuration.maxWaiting, maxPerSource: 1)
        let connector = BackendConnector(
            connectTimeout: self.configuration.connectTimeout,
            busyConnectTimeout: self.configuration.busyConnectTimeout,
            counters: counters,
            logger: logger,
            sources: SourceAddressRotation(
                addresses: try self.configuration.sourceAddresses.map { try SocketAddress(ipAddress: $0, port: 0) })
        )
        return try await ServerBootstrap(group: group)
            // A node loss sends thousands of clients here at once; SYNs beyond the accept queue
            // are dropped and retried by the client only after 1 s, 3 s, 7 s. Linux caps this
            // at net.core.somaxconn (4096 here).
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                counters.accepted()
                channel.closeFuture.whenComplete { _ in counters.closed() }
                // Caps before any backend is dialled: this client's address, then the
                // connections already waiting for a backend. A refused client is closed unread.
                let source = channel.remoteAddress?.ipAddress ?? "unknown"
                if let refusal = sources.admit(source: source) ?? waiting.admit() {
                    if refusal == .full { sources.release(source: source) }
                    counters.refused(refusal)
                    // A failed initializer makes NIO close the accepted socket unread.
                    return channel.eventLoop.makeFailedFuture(refusal)
                }
                channel.closeFuture.whenComplete { _ in sources.release(source: source) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        SpliceSetupHandler(pool: pool, connector: connector, counters: counters, logger: logger,
                                           waiting: waiting)
                    )
                }
            }
            .bind(host: self.configuration.host, port: self.configuration.port)
            .get()
    }

    private static func pollDirectory(
        _ directory: any BackendDirectory,
        into pool: BackendPool,
        every interval: TimeAmount,
        logger: Logger
    ) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .nanoseconds(interval.nanoseconds))
            } catch {
                return
            }
            await Self.refresh(pool, from: directory, logger: logger)
        }
    }

    /// Reads the directory and hands it to the pool; waits for newcomers' first probes, so a
    /// node that joins is usable as soon as this returns if it is ready.
    private static func refresh(_ pool: BackendPool, from directory: any BackendDirectory, logger: Logger) async {
        do {
            let members = try await directory.backends()
            try await pool.update(members: members).get()
        } catch is CancellationError {
            return
        } catch {
            // Keep the last membership: a store hiccup must not empty the cluster.
            logger.warning("directory read failed; keeping the last membership", metadata: ["balancer.error": "\(error)"])
        }
    }
}
