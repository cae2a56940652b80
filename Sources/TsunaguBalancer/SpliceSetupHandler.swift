import Logging
import NIOCore

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

    init(pool: BackendPool, connector: BackendConnector, counters: BalancerCounters, logger: Logger) {
        self.pool = pool
        self.connector = connector
        self.counters = counters
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        let plan = self.pool.connectionPlan()
        self.connector.connect(to: plan[...], on: context.eventLoop)
            .assumeIsolated()
            .whenComplete { result in
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
            let (clientSide, backendSide) = GlueHandler.matchedPair()
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
}
