import NIOCore
import NIOPosix
import Synchronization
import TsunaguBalancer
import TsunaguCore

/// A tiny stand-in for a realtime node. On one port it answers `GET /readyz` (200 by default),
/// and on any other connection writes its own id and a newline, then echoes what it receives.
/// It tells the two apart by the connection's first bytes, the way a node shares one port
/// between its probe and its clients.
final class TestBackend: Sendable {
    let id: String
    let port: Int
    private let listener: any Channel
    fileprivate let shared: Shared

    /// What the backend's connection handlers and the test both see.
    fileprivate final class Shared: Sendable {
        let readyStatus: Mutex<Int>
        let clientConnections = Mutex(0)
        /// The source IP of every client (non-probe) connection.
        let clientSources = Mutex<[String]>([])
        /// The PROXY protocol v2 header of every connection that sent one, in order.
        let proxyHeaders = Mutex<[ProxyHeader]>([])
        init(readyStatus: Int) { self.readyStatus = Mutex(readyStatus) }
    }

    private init(id: String, port: Int, listener: any Channel, shared: Shared) {
        self.id = id
        self.port = port
        self.listener = listener
        self.shared = shared
    }

    static func start(id: String, readyStatus: Int = 200) async throws -> TestBackend {
        let shared = Shared(readyStatus: readyStatus)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TestBackendHandler(id: id, shared: shared))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TestBackend(id: id, port: listener.localAddress!.port!, listener: listener, shared: shared)
    }

    var backend: Backend { Backend(id: self.id, host: "127.0.0.1", port: self.port) }

    /// Client (non-probe) connections accepted so far.
    var clientConnections: Int { self.shared.clientConnections.withLock { $0 } }

    /// The source IP addresses client connections came from, in order.
    var clientSources: [String] { self.shared.clientSources.withLock { $0 } }

    /// The PROXY headers the balancer sent, in order (it sends one on every client connection).
    var proxyHeaders: [ProxyHeader] { self.shared.proxyHeaders.withLock { $0 } }

    /// The status `GET /readyz` answers; 0: no answer at all.
    func setReadyStatus(_ status: Int) {
        self.shared.readyStatus.withLock { $0 = status }
    }

    /// Stops accepting: connects are refused from now on; open connections stay.
    func closeListener() async throws {
        try await self.listener.close()
    }
}

private final class TestBackendHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Mode {
        case sniffing(ByteBuffer)
        case echoing
        case probed
    }

    private static let probePrefix = Array("GET /readyz".utf8)
    private let id: String
    private let shared: TestBackend.Shared
    private var mode = Mode.sniffing(ByteBuffer())

    init(id: String, shared: TestBackend.Shared) {
        self.id = id
        self.shared = shared
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        switch self.mode {
        case .echoing:
            context.write(self.wrapOutboundOut(bytes), promise: nil)
        case .probed:
            break
        case .sniffing(var seen):
            seen.writeImmutableBuffer(bytes)
            // Like a node: a PROXY header first names the client, then the client's bytes follow.
            switch ProxyHeader.parse(seen.readableBytesView) {
            case .needMore:
                self.mode = .sniffing(seen)
                return
            case .header(let header, let length):
                guard seen.readableBytes >= length else {
                    self.mode = .sniffing(seen)
                    return
                }
                seen.moveReaderIndex(forwardBy: length)
                self.shared.proxyHeaders.withLock { $0.append(header) }
                guard seen.readableBytes > 0 else {
                    self.mode = .sniffing(seen)
                    return
                }
            case .notProxy, .invalid:
                break
            }
            let view = Array(seen.readableBytesView.prefix(Self.probePrefix.count))
            if view == Array(Self.probePrefix.prefix(view.count)) {
                guard view.count == Self.probePrefix.count else {
                    self.mode = .sniffing(seen)
                    return
                }
                self.mode = .probed
                let status = self.shared.readyStatus.withLock { $0 }
                // Status 0: a busy node that does not answer its probe at all (the balancer's
                // timeout decides).
                guard status != 0 else { return }
                let response = "HTTP/1.1 \(status) \(status == 200 ? "OK" : "Not Ready")\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            } else {
                self.mode = .echoing
                self.shared.clientConnections.withLock { $0 += 1 }
                if let source = context.channel.remoteAddress?.ipAddress {
                    self.shared.clientSources.withLock { $0.append(source) }
                }
                context.write(self.wrapOutboundOut(ByteBuffer(string: self.id + "\n")), promise: nil)
                context.write(self.wrapOutboundOut(seen), promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Echo with back-pressure: stop reading while the echo cannot be written.
        try? context.channel.syncOptions?.setOption(.autoRead, value: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            // The client is done sending: finish echoing, then close.
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
