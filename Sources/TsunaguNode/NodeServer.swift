import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization
import TsunaguCore
import TsunaguCrypto
import TsunaguStore
import TsunaguWebSocket

/// A realtime node: one listener serving the JSON API and `GET /v1/ws` (and, for conformance
/// testing only, `/v1/echo`), optionally over TLS. Stateless: everything lasting is in the store.
public final class NodeServer: Sendable {
    public let configuration: NodeConfiguration
    let context: NodeContext
    private let group: MultiThreadedEventLoopGroup
    private let listener = Mutex<(any Channel)?>(nil)
    private let agentTask = Mutex<Task<Void, Never>?>(nil)
    private let mailTask = Mutex<Task<Void, Never>?>(nil)
    private let expirySweep = Mutex<RepeatedTask?>(nil)
    private let storeCheck = Mutex<Task<Void, Never>?>(nil)
    private let drained = Mutex<[CheckedContinuation<Void, Never>]?>([])

    public init(configuration: NodeConfiguration, store: HubStore, passwords: PasswordHasher = PasswordHasher(),
                logger: Logger = Logger(label: "tsunagu.node")) {
        self.configuration = configuration
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        self.context = NodeContext(configuration: configuration, store: store, passwords: passwords, logger: logger,
                                   group: group)
    }

    /// Binds and starts serving; returns the bound port (useful with port 0).
    @discardableResult
    public func start() async throws -> Int {
        context.blockingPool.start()
        let tls = try makeTLSContext()
        let context = self.context
        let configuration = self.configuration
        var limits = configuration.limits
        // The echo endpoint echoes binary; /v1/ws closes on binary in ClientSession (1003).
        limits.allowsBinary = configuration.conformanceEcho
        let upgrader = Self.makeUpgrader(context: context, limits: limits, plaintextOnTLSPort: false)
        let router = APIRoutes.router(context)
        let maxBody = configuration.maxHTTPBodyBytes
        let failure: @Sendable (any Error, String) -> (code: WireErrorCode, message: String) = { error, path in
            context.failure(error, operation: "http")
        }
        let http = HTTPPipeline(upgrader: upgrader, router: router, maxBody: maxBody, failure: failure)
        // With TLS, plaintext on the same port serves only what must work without a certificate:
        // health for the balancer and HAProxy, and the HMAC-authenticated, content-free peer links.
        let plaintext = HTTPPipeline(
            upgrader: Self.makeUpgrader(context: context, limits: limits, plaintextOnTLSPort: true),
            router: APIRoutes.healthRouter(context), maxBody: maxBody, failure: failure)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            // Accept up to 64 connections per wake-up instead of NIO's 4: after a node loss its
            // clients arrive here by the thousand, and while they wait unaccepted the kernel
            // drops their SYNs once the queue is full.
            .serverChannelOption(.maxMessagesPerRead, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Each channel keeps its receive buffer between reads; most connections are idle
            // subscribers that send a few small frames, so start small (NIO's default is 2 KB) and
            // let busy connections grow it. Part of the per-connection memory budget
            // (docs/benchmarks.md, idle connections).
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65_536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            TLSSniffer(tls: tls, secure: http, plaintext: plaintext))
                    } else {
                        try http.configure(channel)
                    }
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
        listener.withLock { $0 = channel }
        let port = channel.localAddress?.port ?? configuration.port
        if let worker = context.mailWorker {
            mailTask.withLock { $0 = Task { await worker.run() } }
        }
        await context.checkStore()
        storeCheck.withLock {
            $0 = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    await context.checkStore()
                }
            }
        }
        let hub = context.hub
        expirySweep.withLock {
            $0 = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
                hub.endExpiredSessions(nowMillis: WireTime.nowMillis())
            }
        }
        if configuration.peerKey != nil {
            let agent = MembershipAgent(context: context, host: configuration.host, port: port) { [weak self] in
                guard let self else { return }
                Task { await self.drain() }
            }
            try await agent.register()
            agentTask.withLock { $0 = Task { await agent.run() } }
        }
        context.logger.info("node listening", metadata: [
            "tsunagu.node": "\(configuration.nodeID)", "tsunagu.address": "\(configuration.host):\(port)",
            "tsunagu.tls": "\(tls != nil)",
        ])
        return port
    }

    public var port: Int? { listener.withLock { $0?.localAddress?.port } }

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
        let clients = context.clients.withLock { Array($0.values) }
        let jitter = max(1, configuration.drainJitterMillis)
        for client in clients {
            let delay = Int.random(in: 0..<jitter)
            client.connection.eventLoop.execute { client.moveAway(afterMillis: delay) }
        }
        let deadline = ContinuousClock.now + timeout
        while context.clients.withLock({ !$0.isEmpty }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        agentTask.withLock { $0?.cancel() }
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
        agentTask.withLock { $0?.cancel() }
        mailTask.withLock { $0?.cancel() }
        expirySweep.withLock { $0?.cancel() }
        storeCheck.withLock { $0?.cancel() }
        context.peers?.closeAll()
        if let channel = listener.withLock({ $0 }) {
            try? await channel.close()
        }
        if configuration.peerKey != nil { try? await context.store.setNodeState(id: configuration.nodeID, .gone) }
        try await group.shutdownGracefully()
        try await context.blockingPool.shutdownGracefully()
    }

    /// Connected peers and open client connections, for tests and `nodes list`.
    public var peerLinkCount: Int { context.peers?.connectedPeers ?? 0 }
    public var clientCount: Int { context.clients.withLock { $0.count } }

    /// Waits until the listener closes.
    public func wait() async throws {
        if let channel = listener.withLock({ $0 }) { try await channel.closeFuture.get() }
    }

    private static func makeUpgrader(context: NodeContext, limits: WebSocketLimits, plaintextOnTLSPort: Bool)
        -> WebSocketServerUpgrader
    {
        let configuration = context.configuration
        return WebSocketServer.makeUpgrader(limits: limits, compression: configuration.compression) { head, _ in
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            switch path {
            case "/v1/ws" where !plaintextOnTLSPort:
                return { ClientSession(context: context) }
            case "/v1/echo" where configuration.conformanceEcho && !plaintextOnTLSPort:
                return { WebSocketEchoDelegate() }
            case "/v1/peer":
                guard let auth = context.peerAuth else { return nil }
                return { PeerEndpoint(context: context, auth: auth) }
            default:
                return nil
            }
        }
    }

    private func makeTLSContext() throws -> NIOSSLContext? {
        guard let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath else { return nil }
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        if let ca = configuration.tlsClientCAPath {
            // Request a certificate; one that is presented must chain to this CA and be within its
            // validity dates, or the handshake fails. Absent is allowed here: whether a login needs
            // one is the organization's policy, checked at login and at WebSocket auth.
            tls.certificateVerification = .optionalVerification
            tls.trustRoots = .file(ca)
            tls.sendCANameList = true
        }
        return try NIOSSLContext(configuration: tls)
    }
}
