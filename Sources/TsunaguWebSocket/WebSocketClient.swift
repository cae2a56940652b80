import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// The client role of the WebSocket layer: one connection to a WebSocket server (`ws://`).
///
/// Callback-based on purpose: no task or continuation per message, so one process holds
/// thousands (the load generator) and a node keeps one to each peer. It shares the server's frame
/// parser, message assembler and permessage-deflate codec (`WebSocketClientHandler`). Every
/// method may be called from any thread; calls off the event loop hop onto it.
public final class WebSocketClient: Sendable {
    /// How to connect.
    public struct Configuration: Sendable {
        /// The request target (path and query).
        public var path: String
        /// Offer permessage-deflate (RFC 7692); `compression` tells whether the server agreed.
        public var offerCompression: Bool
        /// Source address to bind to (its port is chosen at connect), nil for the kernel's choice.
        public var localAddress: String?
        /// More headers for the upgrade request.
        public var headers: [(name: String, value: String)] = []
        /// Largest message accepted from the server, after reassembly and inflation; larger ones
        /// fail the connection with 1009.
        public var maxMessageBytes = 16 << 20
        /// For the TCP connect; the handshake gets 5 s more.
        public var connectTimeout: TimeAmount = .seconds(10)
        /// How long `close` waits for the server to end the connection after the Close frames.
        public var closeTimeout: TimeAmount = .seconds(2)
        /// Adds handlers that go first in a new connection's pipeline, ahead of HTTP: TLS, for
        /// `wss://` (this module stays free of a TLS library; the caller brings one).
        public var prelude: (@Sendable (any Channel) throws -> Void)?

        public init(path: String = "/", offerCompression: Bool = false, localAddress: String? = nil) {
            self.path = path
            self.offerCompression = offerCompression
            self.localAddress = localAddress
        }
    }

    public let channel: any Channel
    /// The agreed permessage-deflate parameters, nil when uncompressed.
    public let compression: PermessageDeflate?
    private let handler: NIOLoopBound<WebSocketClientHandler>
    private let closeTimeout: TimeAmount

    public var eventLoop: any EventLoop { self.channel.eventLoop }
    /// permessage-deflate was agreed.
    public var isCompressed: Bool { self.compression != nil }
    /// Whether the TCP connection is still open.
    public var isOpen: Bool { self.channel.isActive }

    private init(channel: any Channel, handler: WebSocketClientHandler, compression: PermessageDeflate?, closeTimeout: TimeAmount) {
        self.channel = channel
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        self.compression = compression
        self.closeTimeout = closeTimeout
    }

    /// Connects to `ws://host:port` + `configuration.path` and completes the upgrade. `onText`
    /// runs on the connection's event loop for every text message; `onClose` runs there once when
    /// the connection ends, with the server's close code (nil without a Close frame) and a reason.
    /// `group` may be a single event loop, which the connection then lives on.
    /// - Fails with `WebSocketClientError` (`.handshakeFailed`, `.invalidHandshake`, `.timeout`,
    ///   `.closed`) or the socket's error.
    public static func connect(
        host: String, port: Int, configuration: Configuration = .init(), group: any EventLoopGroup,
        onText: @escaping @Sendable (ByteBuffer) -> Void,
        onClose: @escaping @Sendable (_ code: UInt16?, _ reason: String) -> Void
    ) -> EventLoopFuture<WebSocketClient> {
        self.connect(host: host, port: port, configuration: configuration, group: group) { _ in
            WebSocketClientCallbacks(onText: onText, onClose: onClose)
        }.map { $0.client }
    }

    /// Connects like `connect(host:port:configuration:group:onText:onClose:)`, with a delegate
    /// that `makeDelegate` builds on the connection's event loop once the upgrade succeeded; it is
    /// returned bound to that loop.
    public static func connect<Delegate: WebSocketClientDelegate>(
        host: String, port: Int, configuration: Configuration = .init(), group: any EventLoopGroup,
        makeDelegate: @escaping @Sendable (any EventLoop) -> Delegate
    ) -> EventLoopFuture<(client: WebSocketClient, delegate: NIOLoopBound<Delegate>)> {
        typealias Connected = (client: WebSocketClient, delegate: NIOLoopBound<Delegate>)
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: Connected.self)
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        if let local = configuration.localAddress {
            do {
                let address = try SocketAddress(ipAddress: local, port: 0)
                #if os(Linux)
                // IP_BIND_ADDRESS_NO_PORT (24): choose the ephemeral port at connect(), per
                // destination, not at bind(): otherwise one source address is capped at one
                // ephemeral range in total, however many target ports a load run spreads over.
                if address.protocol == .inet {
                    bootstrap = bootstrap.channelOption(.ipOption(.init(rawValue: 24)), value: 1)
                }
                #endif
                bootstrap = bootstrap.bind(to: address)
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
        }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: configuration.path)
        head.headers.add(name: "Host", value: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        for (name, value) in configuration.headers { head.headers.add(name: name, value: value) }
        let closeTimeout = configuration.closeTimeout
        bootstrap = bootstrap.channelInitializer { [head] channel in
            channel.eventLoop.makeCompletedFuture {
                try configuration.prelude?(channel)
                let upgrader = WebSocketClientUpgrader<Connected>(
                    handshake: ClientHandshake(offerCompression: configuration.offerCompression),
                    maxMessageBytes: configuration.maxMessageBytes,
                    promise: promise
                ) { channel, handler in
                    let delegate = makeDelegate(channel.eventLoop)
                    handler.delegate = delegate
                    let client = WebSocketClient(channel: channel, handler: handler, compression: handler.compression,
                                                 closeTimeout: closeTimeout)
                    return (client, NIOLoopBound(delegate, eventLoop: channel.eventLoop))
                }
                let handshakeHandler = ClientHandshakeHandler(head: head, upgrader: upgrader)
                let boundHandshakeHandler = NIOLoopBound(handshakeHandler, eventLoop: channel.eventLoop)
                let ops = channel.pipeline.syncOperations
                try ops.addHTTPClientHandlers(
                    leftOverBytesStrategy: .forwardBytes,
                    withClientUpgrade: (upgraders: [upgrader], completionHandler: { context in
                        context.pipeline.syncOperations.removeHandler(boundHandshakeHandler.value, promise: nil)
                    }))
                try ops.addHandler(handshakeHandler)
            }
        }
        let connecting = bootstrap.connect(host: host, port: port)
        connecting.whenFailure { promise.fail($0) }
        let timeout = eventLoop.scheduleTask(in: configuration.connectTimeout + .seconds(5)) {
            promise.fail(WebSocketClientError.timeout)
        }
        promise.futureResult.whenComplete { result in
            timeout.cancel()
            // A connection whose handshake failed (or timed out) is not left open.
            if case .failure = result { connecting.whenSuccess { $0.close(promise: nil) } }
        }
        return promise.futureResult
    }

    /// Sends one text message (compressed when agreed). On the connection's event loop it is
    /// written at once, and with `flush: false` it waits for `flush()` (batching several
    /// messages into one write); off the loop it hops there and is flushed. `promise` fails with
    /// `WebSocketClientError.closed` once the connection is closing.
    public func send(_ text: ByteBuffer, flush: Bool = true, promise: EventLoopPromise<Void>? = nil) {
        if self.eventLoop.inEventLoop {
            self.handler.value.send(text: text, flush: flush, promise: promise)
        } else {
            let handler = self.handler
            self.eventLoop.execute { handler.value.send(text: text, flush: true, promise: promise) }
        }
    }

    public func send(_ text: String) {
        self.send(ByteBuffer(string: text))
    }

    /// Sends one frame as given (masked, never compressed): binary frames, fragments, control
    /// frames. For tests of servers.
    public func sendFrame(opcode: WebSocketOpcode, payload: ByteBuffer, fin: Bool = true, promise: EventLoopPromise<Void>? = nil) {
        let handler = self.handler
        self.eventLoop.execute { handler.value.send(frameWith: opcode, payload: payload, fin: fin, promise: promise) }
    }

    /// Flushes messages sent with `flush: false`.
    public func flush() {
        if self.eventLoop.inEventLoop {
            self.handler.value.flush()
        } else {
            let handler = self.handler
            self.eventLoop.execute { handler.value.flush() }
        }
    }

    /// Starts the closing handshake; the TCP connection closes when the server answers, or after
    /// `configuration.closeTimeout`.
    public func close(code: UInt16 = 1000, reason: String = "") {
        let handler = self.handler
        let timeout = self.closeTimeout
        self.eventLoop.execute { handler.value.startClose(code: code, reason: reason, timeout: timeout) }
    }
}
