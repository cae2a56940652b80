import NIOCore
import NIOHTTP1
import NIOPosix

/// What one probe learned.
enum ProbeResult: Sendable, Equatable {
    /// A 200 status line.
    case ready
    /// The backend said no: another status (503 while starting or draining), a refused connect,
    /// a reset, garbage.
    case notReady
    /// Nothing within the timeout: a busy backend or a busy machine, not necessarily a dead one.
    case silent
}

/// One readiness probe: `GET /readyz` over plain HTTP/1.1 on the backend's port.
///
/// A node answers 200 while it takes new clients and 503 while it starts or drains. The probe
/// never throws; it answers a `ProbeResult`.
struct BackendHealthChecker: Sendable {
    var timeout: TimeAmount

    func probe(_ backend: Backend, on eventLoop: any EventLoop) -> EventLoopFuture<ProbeResult> {
        let answer = eventLoop.makePromise(of: Bool.self)
        let silent = eventLoop.makePromise(of: ProbeResult.self)
        let deadline = eventLoop.scheduleTask(in: self.timeout) {
            silent.succeed(.silent)
            answer.succeed(false)
        }
        answer.futureResult.whenSuccess { ready in silent.succeed(ready ? .ready : .notReady) }
        answer.futureResult.whenComplete { _ in deadline.cancel() }

        let hostHeader = backend.host.contains(":") ? "[\(backend.host)]:\(backend.port)" : "\(backend.host):\(backend.port)"
        ClientBootstrap(group: eventLoop)
            .connectTimeout(self.timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        ReadinessProbeHandler(hostHeader: hostHeader, answer: answer)
                    )
                }
            }
            .connect(to: backend)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    // Whatever ends the probe (answer, timeout) also ends its connection.
                    answer.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure(ChannelError.connectTimeout):
                    // No answer to the SYN in time: the node's accept queue is full or its
                    // machine is saturated (a reconnect storm). That is silence, not a refusal;
                    // counted as "no" it took every node of a loaded cluster out of every balancer.
                    silent.succeed(.silent)
                    answer.succeed(false)
                case .failure:
                    // Refused or reset: nothing listens there.
                    answer.succeed(false)
                }
            }
        // `silent` is completed first by the deadline, or from the answer otherwise.
        return silent.futureResult
    }
}

/// Sends the probe request and reads the status line of the answer.
private final class ReadinessProbeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let hostHeader: String
    private let answer: EventLoopPromise<Bool>

    init(hostHeader: String, answer: EventLoopPromise<Bool>) {
        self.hostHeader = hostHeader
        self.answer = answer
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/readyz")
        head.headers.add(name: "Host", value: self.hostHeader)
        head.headers.add(name: "User-Agent", value: "tsunagu-balancer")
        head.headers.add(name: "Connection", value: "close")
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let response) = self.unwrapInboundIn(data) {
            self.answer.succeed(response.status == .ok)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.answer.succeed(false)  // no-op when the status line was already read
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.answer.succeed(false)
        context.close(promise: nil)
    }
}
