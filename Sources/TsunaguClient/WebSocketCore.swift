import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Errors of the Tsunagu client.
public enum TsunaguClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No answer within the time asked for.
    case timeout
    /// The connection is closed. `code` is the close code the server sent (nil when the TCP
    /// connection ended without a close frame, or this side closed it).
    case closed(code: UInt16?, reason: String)
    /// The server answered the WebSocket upgrade (or an HTTP request) with this status instead of 101.
    case handshakeFailed(status: Int)
    /// The peer broke the protocol (or asked for something this client cannot do).
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .timeout: return "timed out"
        case .closed(let code, let reason):
            return "connection closed (code \(code.map(String.init) ?? "none")\(reason.isEmpty ? "" : ": \(reason)"))"
        case .handshakeFailed(let status): return "WebSocket handshake failed with HTTP status \(status)"
        case .protocolViolation(let what): return "protocol violation: \(what)"
        }
    }
}

/// Receives what a WebSocket connection delivers, on its event loop.
protocol ClientMessageDelegate: AnyObject, SendableMetatype {
    /// One complete text message (reassembled, inflated).
    func webSocketText(_ message: ByteBuffer)
    /// Something the server sent that this client cannot accept; the connection is being closed.
    func webSocketProtocolError(_ error: TsunaguClientError)
    /// The connection ended. `code`: from the server's close frame (1005 for an empty one), nil without one.
    func webSocketClosed(code: UInt16?, reason: String)
}

/// Frame-level WebSocket client logic: reassembles fragmented messages, inflates RSV1 messages,
/// answers pings, completes the close handshake, and masks everything it sends (RFC 6455 §5.3).
final class ClientFrameHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    var delegate: (any ClientMessageDelegate)?
    private let codec: (any MessageCodec)?
    private let maxMessageBytes: Int
    private var context: ChannelHandlerContext?

    private var partial: ByteBuffer?
    private var partialOpcode: WebSocketOpcode = .text
    private var partialCompressed = false

    private(set) var sentClose = false
    private var receivedClose: (code: UInt16?, reason: String)?
    private var closeNotified = false
    private var failure: String?

    init(codec: (any MessageCodec)?, maxMessageBytes: Int) {
        self.codec = codec
        self.maxMessageBytes = maxMessageBytes
    }

    var isActive: Bool { context?.channel.isActive ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Sending

    /// Sends one message (text by default), compressed when permessage-deflate was negotiated.
    func sendMessage(_ payload: ByteBuffer, opcode: WebSocketOpcode = .text, flush: Bool = true,
                     promise: EventLoopPromise<Void>?) {
        guard let context, !sentClose else {
            promise?.fail(TsunaguClientError.closed(code: receivedClose?.code, reason: "connection closed"))
            return
        }
        var data = payload
        var rsv1 = false
        if let codec {
            do {
                data = try codec.compress(payload, allocator: context.channel.allocator)
                rsv1 = true
            } catch {
                promise?.fail(TsunaguClientError.protocolViolation("compression failed: \(error)"))
                return
            }
        }
        let frame = WebSocketFrame(fin: true, rsv1: rsv1, opcode: opcode, maskKey: .random(), data: data)
        if flush {
            context.writeAndFlush(Self.wrapOutboundOut(frame), promise: promise)
        } else {
            context.write(Self.wrapOutboundOut(frame), promise: promise)
        }
    }

    func flush() { context?.flush() }

    /// Sends a frame exactly as given (masked with a fresh key unless it carries one).
    func sendRawFrame(_ frame: WebSocketFrame, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(TsunaguClientError.closed(code: receivedClose?.code, reason: "connection closed"))
            return
        }
        var frame = frame
        if frame.maskKey == nil { frame.maskKey = .random() }
        if frame.opcode == .connectionClose { sentClose = true }
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: promise)
    }

    /// Starts the close handshake; the channel is closed when the server answers (or after `linger`).
    func startClose(code: UInt16 = 1000, reason: String = "", linger: TimeAmount = .seconds(2)) {
        guard let context else { return }
        if !sentClose {
            sentClose = true
            var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
            data.writeInteger(code)
            data.writeString(reason)
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
            context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
        }
        let channel = context.channel
        channel.eventLoop.scheduleTask(in: linger) { channel.close(promise: nil) }
    }

    // MARK: Receiving

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if frame.rsv2 || frame.rsv3 {
            return fail(context: context, closeCode: 1002, "frame with RSV2/RSV3 set")
        }
        switch frame.opcode {
        case .text, .binary:
            guard partial == nil else {
                return fail(context: context, closeCode: 1002, "new data frame while a fragmented message is open")
            }
            if frame.rsv1 && codec == nil {
                return fail(context: context, closeCode: 1002, "RSV1 set without permessage-deflate")
            }
            partialOpcode = frame.opcode
            partialCompressed = frame.rsv1
            var data = frame.unmaskedData
            if frame.fin {
                deliver(context: context, &data)
            } else {
                partial = data
                checkSize(context: context)
            }
        case .continuation:
            guard var buffer = partial else {
                return fail(context: context, closeCode: 1002, "continuation frame without a started message")
            }
            if frame.rsv1 {
                return fail(context: context, closeCode: 1002, "RSV1 set on a continuation frame")
            }
            var data = frame.unmaskedData
            buffer.writeBuffer(&data)
            partial = buffer
            if frame.fin {
                partial = nil
                deliver(context: context, &buffer)
            } else {
                checkSize(context: context)
            }
        case .ping:
            guard !sentClose else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            var data = frame.unmaskedData
            var code: UInt16? = 1005
            var reason = ""
            if data.readableBytes >= 2 {
                code = data.readInteger(as: UInt16.self)
                reason = data.readString(length: data.readableBytes) ?? ""
            }
            receivedClose = (code, reason)
            if !sentClose {
                sentClose = true
                var echo = context.channel.allocator.buffer(capacity: 2)
                if let code, code != 1005 { echo.writeInteger(code) }
                let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)
                context.writeAndFlush(Self.wrapOutboundOut(frame)).whenComplete { [channel = context.channel] _ in
                    channel.close(promise: nil)
                }
            } else {
                context.close(promise: nil)
            }
        default:
            fail(context: context, closeCode: 1002, "unknown opcode \(frame.opcode)")
        }
    }

    private func checkSize(context: ChannelHandlerContext) {
        if let partial, partial.readableBytes > maxMessageBytes {
            self.partial = nil
            fail(context: context, closeCode: 1009, "message larger than \(maxMessageBytes) bytes")
        }
    }

    private func deliver(context: ChannelHandlerContext, _ data: inout ByteBuffer) {
        var message = data
        if partialCompressed, let codec {
            do {
                message = try codec.decompress(data, allocator: context.channel.allocator)
            } catch MessageCodecError.tooLarge {
                return fail(context: context, closeCode: 1009, "inflated message larger than \(maxMessageBytes) bytes")
            } catch {
                return fail(context: context, closeCode: 1007, "cannot inflate message: \(error)")
            }
        }
        if message.readableBytes > maxMessageBytes {
            return fail(context: context, closeCode: 1009, "message larger than \(maxMessageBytes) bytes")
        }
        if partialOpcode == .binary {
            delegate?.webSocketProtocolError(.protocolViolation("server sent a binary message"))
            return
        }
        delegate?.webSocketText(message)
    }

    private func fail(context: ChannelHandlerContext, closeCode: UInt16, _ what: String) {
        guard failure == nil else { return }
        failure = what
        delegate?.webSocketProtocolError(.protocolViolation(what))
        startClose(code: closeCode, reason: "", linger: .milliseconds(500))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if failure == nil { failure = "\(error)" }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        notifyClosed()
        context.fireChannelInactive()
    }

    private func notifyClosed() {
        guard !closeNotified else { return }
        closeNotified = true
        if let receivedClose {
            delegate?.webSocketClosed(code: receivedClose.code, reason: receivedClose.reason)
        } else {
            delegate?.webSocketClosed(code: nil, reason: failure ?? (sentClose ? "closed by client" : "connection dropped"))
        }
    }
}

/// Everything a new WebSocket connection needs to know.
struct WebSocketConnectOptions: Sendable {
    var host: String
    var port: Int
    var path: String = "/v1/ws"
    var offerCompression = false
    var localAddress: String?
    var headers: [(String, String)] = []
    var maxMessageBytes = 16 << 20
    var connectTimeout: TimeAmount = .seconds(10)
}

/// A connected, upgraded WebSocket channel and its message handler.
struct EstablishedWebSocket<Delegate: ClientMessageDelegate>: Sendable {
    var channel: any Channel
    var handler: NIOLoopBound<ClientFrameHandler>
    var delegate: NIOLoopBound<Delegate>
    var compressed: Bool
}

/// Connects, performs the HTTP/1.1 upgrade with NIOWebSocketClientUpgrader, negotiates
/// permessage-deflate, and installs a `ClientFrameHandler` whose delegate `makeDelegate` builds
/// (on the channel's event loop).
enum WebSocketConnector {
    static func connect<Delegate: ClientMessageDelegate>(
        _ options: WebSocketConnectOptions,
        group: any EventLoopGroup,
        makeDelegate: @escaping @Sendable (any Channel) -> Delegate
    ) -> EventLoopFuture<EstablishedWebSocket<Delegate>> {
        let eventLoop = group.next()
        if options.offerCompression && !ClientDeflate.isAvailable {
            return eventLoop.makeFailedFuture(TsunaguClientError.protocolViolation("compression not available"))
        }
        let promise = eventLoop.makePromise(of: EstablishedWebSocket<Delegate>.self)
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(options.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        if let local = options.localAddress {
            do {
                let address = try SocketAddress(ipAddress: local, port: 0)
                #if os(Linux)
                // IP_BIND_ADDRESS_NO_PORT (24): choose the ephemeral port at connect(), per destination,
                // not at bind(): otherwise one source address is capped at one ephemeral range in total,
                // however many target ports a load run spreads over.
                if address.protocol == .inet {
                    bootstrap = bootstrap.channelOption(.ipOption(.init(rawValue: 24)), value: 1)
                }
                #endif
                bootstrap = bootstrap.bind(to: address)
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
        }
        bootstrap = bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let handshake = HandshakeHandler(options: options, promise: promise)
                let loopBoundHandshake = NIOLoopBound(handshake, eventLoop: channel.eventLoop)
                let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: Int(min(options.maxMessageBytes, Int(UInt32.max)))) {
                    channel, response in
                    channel.eventLoop.makeCompletedFuture {
                        let ops = channel.pipeline.syncOperations
                        let handshake = loopBoundHandshake.value
                        let deflate = try NegotiatedDeflate.parse(
                            responseHeader: response.headers[canonicalForm: "sec-websocket-extensions"].map(String.init))
                        if deflate != nil && !options.offerCompression {
                            throw TsunaguClientError.protocolViolation("server enabled permessage-deflate that was not offered")
                        }
                        let codec = try deflate.map { try ClientDeflate.makeCodec($0, maxMessageBytes: options.maxMessageBytes) }
                        let handler = ClientFrameHandler(codec: codec, maxMessageBytes: options.maxMessageBytes)
                        let delegate = makeDelegate(channel)
                        handler.delegate = delegate
                        ops.removeHandler(handshake, promise: nil)
                        try ops.addHandler(handler)
                        handshake.succeed(EstablishedWebSocket(
                            channel: channel,
                            handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                            delegate: NIOLoopBound(delegate, eventLoop: channel.eventLoop),
                            compressed: codec != nil))
                    }.flatMapErrorThrowing { error in
                        loopBoundHandshake.value.fail(error)
                        channel.close(promise: nil)
                        throw error
                    }
                }
                try channel.pipeline.syncOperations.addHTTPClientHandlers(
                    leftOverBytesStrategy: .forwardBytes,
                    withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                try channel.pipeline.syncOperations.addHandler(handshake)
            }
        }
        bootstrap.connect(host: options.host, port: options.port).whenFailure { error in
            promise.fail(error)
        }
        let timeout = eventLoop.scheduleTask(in: options.connectTimeout + .seconds(5)) {
            promise.fail(TsunaguClientError.timeout)
        }
        promise.futureResult.whenComplete { _ in timeout.cancel() }
        return promise.futureResult
    }
}

/// Sends the upgrade request once connected and turns a refused upgrade into an error.
private final class HandshakeHandler<Delegate: ClientMessageDelegate>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let options: WebSocketConnectOptions
    private let promise: EventLoopPromise<EstablishedWebSocket<Delegate>>
    private var done = false

    init(options: WebSocketConnectOptions, promise: EventLoopPromise<EstablishedWebSocket<Delegate>>) {
        self.options = options
        self.promise = promise
    }

    func succeed(_ value: EstablishedWebSocket<Delegate>) {
        guard !done else { return }
        done = true
        promise.succeed(value)
    }

    func fail(_ error: any Error) {
        guard !done else { return }
        done = true
        promise.fail(error)
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        let hostHeader = options.host.contains(":") ? "[\(options.host)]:\(options.port)" : "\(options.host):\(options.port)"
        headers.add(name: "Host", value: hostHeader)
        if options.offerCompression {
            headers.add(name: "Sec-WebSocket-Extensions", value: NegotiatedDeflate.offerHeader)
        }
        for (name, value) in options.headers { headers.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: options.path, headers: headers)
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let response) = Self.unwrapInboundIn(data) {
            fail(TsunaguClientError.handshakeFailed(status: Int(response.status.code)))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let upgradeError = error as? NIOHTTPClientUpgradeError {
            fail(TsunaguClientError.protocolViolation("WebSocket upgrade refused: \(upgradeError)"))
        } else {
            fail(error)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(TsunaguClientError.closed(code: nil, reason: "connection closed during the WebSocket handshake"))
        context.fireChannelInactive()
    }
}
