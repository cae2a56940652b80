import NIOCore
import NIOWebSocket

/// The one handler of an upgraded client connection, the client-role twin of `WebSocketHandler`:
/// the same `FrameParser`, `MessageAssembler` (fragments, control frames, UTF-8, size limits) and
/// permessage-deflate codec, with the client's side of RFC 6455: every frame it sends is masked
/// (§5.3), and a masked frame from the server fails the connection.
///
/// Messages are sent as single frames; pings are answered; the closing handshake is completed.
/// All state is confined to the channel's event loop.
final class WebSocketClientHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Receives messages and the close; set before the first read.
    var delegate: (any WebSocketClientDelegate)?

    /// The agreed permessage-deflate parameters, nil when uncompressed.
    let compression: PermessageDeflate?
    private let maxMessageBytes: Int
    private var parser: FrameParser
    /// The parser met a frame it refuses; later bytes are not parsed.
    private var parserFailed = false
    private var assembler: MessageAssembler
    private let deflater: MessageDeflater?
    private let inflater: MessageInflater?
    private var context: ChannelHandlerContext?

    /// A Close frame went out: no more data frames may follow (§5.5.1).
    private(set) var sentClose = false
    private var receivedClose: (code: UInt16, reason: String)?
    /// Why this side failed the connection, for the close notification.
    private var failure: String?
    private var closeNotified = false
    private var closeTimer: Scheduled<Void>?

    init(compression: PermessageDeflate?, maxMessageBytes: Int) {
        self.compression = compression
        self.maxMessageBytes = maxMessageBytes
        self.parser = FrameParser(maxFrameSize: WebSocketLimits.maxFrameBytes(forMessageBytes: maxMessageBytes))
        self.assembler = MessageAssembler(
            configuration: .init(
                maxMessageBytes: maxMessageBytes,
                maxCompressedMessageBytes: WebSocketLimits.maxFrameBytes(forMessageBytes: maxMessageBytes),
                allowsBinary: false,
                compressionNegotiated: compression != nil
            )
        )
        // The client offered client_no_context_takeover and resets its compressor after every
        // message whatever the answer: each message is decodable on its own. The inflater keeps
        // the server's window between messages unless the server resets it too; its full 15-bit
        // window decodes whatever window the server compresses with.
        self.deflater = compression.map { _ in MessageDeflater(noContextTakeover: true) }
        self.inflater = compression.map {
            MessageInflater(noContextTakeover: $0.serverNoContextTakeover, maxOutput: maxMessageBytes)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Sending

    /// Sends one text message, compressed when permessage-deflate was agreed.
    func send(text: ByteBuffer, flush: Bool, promise: EventLoopPromise<Void>?) {
        guard let context, !self.sentClose else {
            promise?.fail(self.closedError)
            return
        }
        let allocator = context.channel.allocator
        let payload = self.deflater.map { $0.compress(text, allocator: allocator) } ?? text
        let frame = OutboundFrame.bytes(opcode: .text, compressed: self.deflater != nil, payload: payload,
                                        maskingKey: .random(), allocator: allocator)
        if flush {
            context.writeAndFlush(Self.wrapOutboundOut(frame), promise: promise)
        } else {
            context.write(Self.wrapOutboundOut(frame), promise: promise)
        }
    }

    /// Sends one frame exactly as given (masked, never compressed): for tests that need binary
    /// frames, fragments or control frames.
    func send(frameWith opcode: WebSocketOpcode, payload: ByteBuffer, fin: Bool, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(self.closedError)
            return
        }
        if opcode == .connectionClose { self.sentClose = true }
        let frame = OutboundFrame.bytes(opcode: opcode, fin: fin, payload: payload, maskingKey: .random(),
                                        allocator: context.channel.allocator)
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: promise)
    }

    func flush() {
        self.context?.flush()
    }

    /// Starts the closing handshake (§7.1.2): sends a Close frame, then closes the TCP connection
    /// when the server's Close arrives or after `timeout`. §7.1.1: "the server SHOULD close the
    /// underlying TCP connection", so the client waits a while for it.
    func startClose(code: UInt16, reason: String, timeout: TimeAmount) {
        guard let context else { return }
        if !self.sentClose {
            self.sentClose = true
            let frame = OutboundFrame.close(code: code, reason: reason, maskingKey: .random(), allocator: context.channel.allocator)
            context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
        }
        if self.closeTimer == nil {
            self.closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                context.close(promise: nil)
            }
        }
    }

    private var closedError: WebSocketClientError {
        .closed(code: self.receivedClose?.code, reason: "connection closed")
    }

    // MARK: Receiving

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.parserFailed else { return }
        self.parser.append(Self.unwrapInboundIn(data))
        while true {
            let frame: WebSocketFrame?
            do {
                frame = try self.parser.next()
            } catch {
                self.parserFailed = true
                let failure = MessageFailure(error, maxMessageBytes: self.maxMessageBytes)
                return self.fail(failure.code, failure.reason)
            }
            guard let frame else { return }
            self.receive(frame, context: context)
        }
    }

    private func receive(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        // §5.1: "A server MUST NOT mask any frames that it sends to the client. A client MUST
        // close a connection if it detects a masked frame."
        guard frame.maskKey == nil else {
            return self.fail(.protocolError, "masked server frame")
        }
        switch self.assembler.receive(frame) {
        case .none, .pong:
            break
        case .ping(let payload):
            // §5.5.3: the Pong carries the Ping's "Application data"; none after our Close.
            guard !self.sentClose else { return }
            let pong = OutboundFrame.bytes(opcode: .pong, payload: payload, maskingKey: .random(), allocator: context.channel.allocator)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .deliver(let message):
            self.deliver(message, allocator: context.channel.allocator)
        case .peerClosed(let code, let reason):
            // §7.1.5: a Close frame without a status code counts as 1005.
            self.receivedClose = (code ?? 1005, reason)
            guard !self.sentClose else {
                // The server answered our Close: the handshake is complete.
                return context.close(promise: nil)
            }
            // §5.5.1: "If an endpoint receives a Close frame and did not previously send a Close
            // frame, the endpoint MUST send a Close frame in response. [...] it typically echos
            // the status code it received."
            self.sentClose = true
            let echo = OutboundFrame.close(code: code, reason: "", maskingKey: .random(), allocator: context.channel.allocator)
            context.writeAndFlush(Self.wrapOutboundOut(echo)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        case .fail(let code, let reason):
            self.fail(code, reason)
        }
    }

    private func deliver(_ message: AssembledMessage, allocator: ByteBufferAllocator) {
        let decoded = MessageDecompression.payload(
            of: message, inflater: self.inflater, maxMessageBytes: self.maxMessageBytes, allocator: allocator)
        switch decoded {
        case .failure(let failure):
            self.fail(failure.code, failure.reason)
        case .success(let payload):
            // The assembler fails binary messages (1003): this client reads text only.
            self.delegate?.webSocketDidReceive(text: payload)
        }
    }

    /// §7.1.7 "_Fail the WebSocket Connection_": tell the delegate, send a Close with `code`, and
    /// drop the connection soon whatever the server does.
    private func fail(_ code: WebSocketErrorCode, _ reason: String) {
        guard self.failure == nil else { return }
        self.failure = reason
        self.delegate?.webSocketDidFail(.protocolViolation(reason))
        self.startClose(code: UInt16(webSocketErrorCode: code), reason: reason, timeout: .milliseconds(500))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if self.failure == nil { self.failure = "\(error)" }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closeTimer?.cancel()
        self.closeTimer = nil
        self.notifyClosed()
        context.fireChannelInactive()
    }

    private func notifyClosed() {
        guard !self.closeNotified else { return }
        self.closeNotified = true
        if let receivedClose = self.receivedClose {
            self.delegate?.webSocketDidClose(code: receivedClose.code, reason: receivedClose.reason)
        } else {
            let reason = self.failure ?? (self.sentClose ? "closed by client" : "connection dropped")
            self.delegate?.webSocketDidClose(code: nil, reason: reason)
        }
    }
}
