import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
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

    public init(configuration: NodeConfiguration, store: HubStore, passwords: PasswordHasher = PasswordHasher(),
                logger: Logger = Logger(label: "tsunagu.node")) {
        self.configuration = configuration
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        self.context = NodeContext(configuration: configuration, store: store, passwords: passwords, logger: logger)
    }

    /// Binds and starts serving; returns the bound port (useful with port 0).
    @discardableResult
    public func start() async throws -> Int {
        let tls = try makeTLSContext()
        let context = self.context
        let configuration = self.configuration
        var limits = configuration.limits
        // The echo endpoint echoes binary; /v1/ws closes on binary in ClientSession (1003).
        limits.allowsBinary = configuration.conformanceEcho
        let upgrader = WebSocketServer.makeUpgrader(limits: limits, compression: configuration.compression) {
            head, _ in
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            switch path {
            case "/v1/ws":
                return { ClientSession(context: context) }
            case "/v1/echo" where configuration.conformanceEcho:
                return { WebSocketEchoDelegate() }
            default:
                return nil
            }
        }
        let router = APIRoutes.router(context)
        let maxBody = configuration.maxHTTPBodyBytes
        let failure: @Sendable (any Error, String) -> (code: WireErrorCode, message: String) = { error, path in
            context.failure(error, operation: "http")
        }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                    let api = HTTPAPIHandler(router: router, maxBodyBytes: maxBody, failure: failure)
                    try sync.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in
                            channel.pipeline.removeHandler(name: HTTPAPIHandler.name, promise: nil)
                        }),
                        withErrorHandling: true)
                    try sync.addHandler(api, name: HTTPAPIHandler.name)
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
        listener.withLock { $0 = channel }
        let port = channel.localAddress?.port ?? configuration.port
        context.logger.info("node listening", metadata: [
            "tsunagu.node": "\(configuration.nodeID)", "tsunagu.address": "\(configuration.host):\(port)",
            "tsunagu.tls": "\(tls != nil)",
        ])
        return port
    }

    public var port: Int? { listener.withLock { $0?.localAddress?.port } }

    /// Stops accepting, closes the listener and the event loops.
    public func shutdown() async throws {
        context.setDraining()
        if let channel = listener.withLock({ $0 }) {
            try? await channel.close()
        }
        try await group.shutdownGracefully()
    }

    /// Waits until the listener closes.
    public func wait() async throws {
        if let channel = listener.withLock({ $0 }) { try await channel.closeFuture.get() }
    }

    private func makeTLSContext() throws -> NIOSSLContext? {
        guard let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath else { return nil }
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        return try NIOSSLContext(configuration: tls)
    }
}
