import Logging
import NIOCore
import Synchronization
import TsunaguCore

/// The first handler of an accepted client channel: when the channel is active, connects to a
/// backend chosen by the pool, then replaces itself with a `GlueHandler` pair and lets bytes flow.
///
/// The client channel is accepted with auto-read off and stays so until the backend channel is
/// connected, so nothing is read that could not be forwarded: the client's first bytes (a TLS
/// ClientHello, say) wait in the kernel. If no backend can be reached, the client connection is
/// closed at once.
final class SpliceSetupHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let pool: BackendPool
    private let connector: BackendConnector
    private let counters: BalancerCounters
    private let logger: Logger
    /// The gate of connections waiting for a backend (`maxWaiting`), whose place this connection
    /// holds until it is spliced or closed; nil once given back.
    private var waiting: ConnectionGate?

    init(pool: BackendPool, connector: BackendConnector, counters: BalancerCounters, logger: Logger,
         waiting: ConnectionGate? = nil) {
        self.pool = pool
        self.connector = connector
        self.counters = counters
        self.logger = logger
        self.waiting = waiting
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stopWaiting()
    }

    private func stopWaiting() {
        self.waiting?.release()
        self.waiting = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        let plan = self.pool.connectionPlan()
        self.connector.connect(to: plan[...], on: context.eventLoop)
            .assumeIsolated()
            .whenComplete { result in
                self.stopWaiting()
                switch result {
                case .success(let (backend, chosen)):
                    self.splice(context: context, to: backend, chosen: chosen)
                case .failure:
                    self.counters.rejected()
                    self.logger.debug("no backend for client connection", metadata: ["balancer.tried": "\(plan.count)"])
                    context.close(promise: nil)
                }
            }
    }

    private func splice(context: ChannelHandlerContext, to backend: any Channel, chosen: Backend) {
        let client = context.channel
        guard client.isActive else {
            // The balancer is shutting down and closed the client meanwhile.
            backend.close(promise: nil)
            return
        }
        precondition(backend.eventLoop === client.eventLoop, "both sides of a splice share one event loop")
        do {
            // The node learns who the client is from a PROXY protocol v2 header, the first bytes
            // on the backend connection, written before any client byte can be forwarded
            // (docs/balancer.md, "Client addresses").
            backend.writeAndFlush(ByteBuffer(bytes: Self.proxyHeader(for: client)), promise: nil)
            let traffic = self.counters.traffic(for: chosen)
            traffic.open.add(1, ordering: .relaxed)
            client.closeFuture.whenComplete { _ in traffic.open.subtract(1, ordering: .relaxed) }
            let (clientSide, backendSide) = GlueHandler.matchedPair(traffic: traffic)
            try backend.pipeline.syncOperations.addHandler(backendSide)
            try context.pipeline.syncOperations.addHandler(clientSide)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            self.counters.spliced(to: chosen)
            try backend.syncOptions?.setOption(.autoRead, value: true)
            try client.syncOptions?.setOption(.autoRead, value: true)
        } catch {
            self.logger.warning("splice setup failed", metadata: ["balancer.error": "\(error)"])
            backend.close(promise: nil)
            client.close(promise: nil)
        }
    }

    /// PROXY for a TCP client over IPv4 or IPv6: its address and the one it connected to; LOCAL
    /// when either is unknown (the node then keeps the socket's address).
    static func proxyHeader(for client: any Channel) -> [UInt8] {
        guard let source = client.remoteAddress.flatMap(Self.proxyAddress),
            let destination = client.localAddress.flatMap(Self.proxyAddress)
        else { return ProxyHeader(command: .local).encoded() }
        return ProxyHeader(command: .proxy, source: source, destination: destination).encoded()
    }

    private static func proxyAddress(_ address: SocketAddress) -> ProxyHeader.Address? {
        switch address {
        case .v4(let v4):
            return ProxyHeader.Address(bytes: withUnsafeBytes(of: v4.address.sin_addr) { Array($0) },
                                       port: UInt16(address.port ?? 0))
        case .v6(let v6):
            return ProxyHeader.Address(bytes: withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) },
                                       port: UInt16(address.port ?? 0))
        case .unixDomainSocket:
            return nil
        }
    }
}
