import NIOCore
import NIOPosix
import NIOSSL
import TsunaguCore
import TsunaguWebSocket

/// The node's one listener: the JSON API and the WebSocket endpoints on one port, TLS optional.
enum NodeListener {
    static func bind(context: NodeContext, group: any EventLoopGroup) async throws -> any Channel {
        let configuration = context.configuration
        let tls = try configuration.tls?.makeContext()
        var limits = configuration.limits
        // The echo endpoint echoes binary; /v1/ws closes on binary in ClientSession (1003).
        limits.allowsBinary = configuration.conformanceEcho
        let maxBody = configuration.maxHTTPBodyBytes
        let trustedProxies = configuration.trustedProxies
        let gate = context.connectionGate
        let plaintextListener = tls == nil
        let requestTimeout = configuration.requestTimeout
        let idleTimeout = configuration.idleTimeout
        let failure: @Sendable (any Error, String) -> (code: WireErrorCode, message: String) = { error, _ in
            context.failure(error, operation: "http")
        }
        let http = HTTPPipeline(upgrader: makeUpgrader(context: context, limits: limits, plaintextOnTLSPort: false),
                                router: APIRoutes.router(context), maxBody: maxBody, failure: failure)
        // With TLS, plaintext on the same port serves only what must work without a certificate:
        // health for the balancer and HAProxy, and (on loopback) the HMAC-authenticated peer links.
        let plaintext = HTTPPipeline(
            upgrader: makeUpgrader(context: context, limits: limits, plaintextOnTLSPort: true),
            router: APIRoutes.healthRouter(context), maxBody: maxBody, failure: failure)
        // Peer links over mutually authenticated TLS: the peer endpoint and health, nothing else.
        let peer = configuration.peerTLS.map { peerTLS in
            TLSSniffer.PeerRoute(
                context: peerTLS.serverContext,
                pipeline: HTTPPipeline(upgrader: makePeerUpgrader(context: context, limits: limits),
                                       router: APIRoutes.healthRouter(context), maxBody: maxBody, failure: failure))
        }
        return try await ServerBootstrap(group: group)
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
                    let sync = channel.pipeline.syncOperations
                    let trusted = channel.remoteAddress.map { address in
                        trustedProxies.contains { $0.contains(address) }
                    } ?? false
                    // Caps first, before anything is read: the total always; the source now
                    // unless a trusted proxy may still name the real client in a PROXY header.
                    let socketSource = channel.remoteAddress?.ipAddress ?? "unknown"
                    guard Self.admit(channel, gate: gate, source: trusted ? nil : socketSource) else {
                        context.metrics.connectionRefused()
                        return try sync.addHandler(RefuseOnActiveHandler(plaintext: plaintextListener))
                    }
                    try sync.addHandler(ConnectionDeadlineHandler(requestTimeout: requestTimeout, idleTimeout: idleTimeout))
                    // First, before TLS: the balancer's PROXY header comes ahead of the client's
                    // own bytes (docs/balancer.md, "Client addresses").
                    try sync.addHandler(ProxyHeaderHandler(
                        trusted: trusted, onRefuse: { context.metrics.refused(.untrustedProxy) }) { channel, source in
                        if trusted, !Self.admit(channel, gate: gate, source: source ?? socketSource, total: false) {
                            context.metrics.connectionRefused()
                            return ConnectionRefusal.refuse(channel, plaintext: plaintextListener)
                        }
                        if tls != nil || peer != nil {
                            try channel.pipeline.syncOperations.addHandler(
                                TLSSniffer(tls: tls, secure: http, plaintext: plaintext, peer: peer, source: source))
                        } else {
                            try http.configure(channel, source: source)
                        }
                    })
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
    }

    /// Takes the connection's places in `gate` (the total unless `total` is false, the source's
    /// when given) and gives them back when it closes; false when a cap refuses it.
    private static func admit(_ channel: any Channel, gate: ConnectionGate, source: String?, total: Bool = true) -> Bool {
        if total {
            guard gate.admit() == nil else { return false }
            channel.closeFuture.whenComplete { _ in gate.release() }
        }
        if let source {
            guard gate.admit(source: source) == nil else { return false }
            channel.closeFuture.whenComplete { _ in gate.release(source: source) }
        }
        return true
    }

    /// The admin listener: plain HTTP, health and metrics only, no WebSocket.
    static func bindAdmin(context: NodeContext, group: any EventLoopGroup) async throws -> any Channel {
        let configuration = context.configuration
        let admin = HTTPPipeline(
            upgrader: WebSocketServer.makeUpgrader(limits: configuration.limits, compression: false) { _, _ in nil },
            router: APIRoutes.adminRouter(context), maxBody: 4096,
            failure: { error, _ in context.failure(error, operation: "admin") })
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionDeadlineHandler(requestTimeout: configuration.requestTimeout,
                                                  idleTimeout: configuration.idleTimeout))
                    try admin.configure(channel)
                }
            }
            .bind(host: configuration.adminHost, port: configuration.adminPort).get()
    }

    private static func makeUpgrader(context: NodeContext, limits: WebSocketLimits, plaintextOnTLSPort: Bool)
        -> WebSocketServerUpgrader
    {
        let configuration = context.configuration
        return WebSocketServer.makeUpgrader(limits: limits, compression: configuration.compression) { head, channel in
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            switch path {
            case "/v1/ws" where !plaintextOnTLSPort:
                let source = channel.remoteAddress?.ipAddress
                return { ClientSession(context: context, source: source) }
            case "/v1/echo" where configuration.conformanceEcho && !plaintextOnTLSPort:
                return { WebSocketEchoDelegate() }
            case "/v1/peer":
                // Plaintext peer links only between processes on one host: off loopback, or once
                // the cluster has peer TLS, a peer must come over TLS (docs/cluster.md).
                guard let auth = context.peerAuth else { return nil }
                guard configuration.peerTLS == nil, channel.remoteAddress.map(CIDR.isLoopback) ?? false else {
                    context.logger.warning("peer link refused: plaintext off loopback or with --peer-tls-cert set",
                                           metadata: ["tsunagu.node": "\(context.nodeID)"])
                    return nil
                }
                return { PeerEndpoint(context: context, auth: auth, certifiedNodeIDs: nil) }
            default:
                return nil
            }
        }
    }

    /// The upgrader behind peer TLS: only `/v1/peer`, bound to the node ids the certificate names.
    private static func makePeerUpgrader(context: NodeContext, limits: WebSocketLimits) -> WebSocketServerUpgrader {
        WebSocketServer.makeUpgrader(limits: limits, compression: false) { head, channel in
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            guard path == "/v1/peer", let auth = context.peerAuth else { return nil }
            let certified = PeerTLS.certifiedNodeIDs(of: channel)
            return { PeerEndpoint(context: context, auth: auth, certifiedNodeIDs: certified) }
        }
    }
}
