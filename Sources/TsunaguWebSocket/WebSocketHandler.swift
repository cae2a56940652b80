import NIOCore
import NIOWebSocket

/// The one handler of an upgraded WebSocket connection: it reads bytes, splits them into frames
/// (`FrameParser`), and writes complete frame bytes.
///
/// It owns the `MessageAssembler` (framing rules), the inflater, the closing handshake, the
/// keep-alive state and the deferred flush. All state is confined to the channel's event loop.
final class WebSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum CloseState {
        case open
        /// We sent a Close frame and wait for the peer's (§7.1.2 "Start the WebSocket Closing
        /// Handshake"); data frames are no longer delivered.
        case closeSent
        /// Both Close frames were exchanged or the connection was given up.
        case closed
    }

    private let connection: WebSocketConnection
    private let delegate: WebSocketMessageDelegate
    let limits: WebSocketLimits
    private var parser: FrameParser
    /// The parser met a frame it refuses; later bytes are not parsed.
    private var parserFailed = false
    private var assembler: MessageAssembler
    private let inflater: MessageInflater?
    private(set) var context: ChannelHandlerContext?

    var closeState = CloseState.open
    private var flushPending = false
    /// The channel's writability, kept from `channelWritabilityChanged` (NIO fires it synchronously
    /// inside the write that crosses the high water mark) so a send reads a field, not the channel.
    private var writable = true
    private var flusher: LoopFlusher?
    private var notifiedClose = false
    var keepAlive: KeepAlive
    /// When the sweeper next evaluates `keepAlive`.
    var keepAliveDue: NIODeadline
    /// This handler's slot in its loop's `KeepAliveSweeper`, -1 when not registered.
    var sweepIndex = -1
    private var sweeper: KeepAliveSweeper?
    private var closeTimer: Scheduled<Void>?

    init(connection: WebSocketConnection, delegate: WebSocketMessageDelegate) {
        self.connection = connection
        self.delegate = delegate
        self.limits = connection.limits
        self.parser = FrameParser(maxFrameSize: connection.limits.maxFrameBytes)
        self.keepAliveDue = .now() + connection.limits.pingInterval
        self.keepAlive = KeepAlive(pingInterval: connection.limits.pingInterval, pongTimeout: connection.limits.pongTimeout, now: .now())
        let deflate = connection.compression
        self.assembler = MessageAssembler(
            configuration: .init(
                maxMessageBytes: connection.limits.maxMessageBytes,
                maxCompressedMessageBytes: connection.limits.maxCompressedMessageBytes,
                allowsBinary: connection.limits.allowsBinary,
                compressionNegotiated: deflate != nil
            )
        )
        // RFC 7692 §7.2.2: with context takeover the client's messages reference earlier ones,
        // so the inflate stream lives as long as the connection.
        self.inflater = deflate.map {
            MessageInflater(noContextTakeover: $0.clientNoContextTakeover, maxOutput: connection.limits.maxMessageBytes)
        }
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.writable = context.channel.isWritable
        self.flusher = LoopFlusher.forLoop(context.eventLoop)
        self.connection.handler = self
        self.keepAlive.frameReceived(at: .now())
        let sweeper = KeepAliveSweeper.forLoop(context.eventLoop)
        self.sweeper = sweeper
        sweeper.add(self)
        self.delegate.webSocketDidOpen(self.connection)
        if !context.channel.isActive {
            self.connectionGone()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.connectionGone()
        self.context = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.writable = context.channel.isWritable
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connectionGone()
        context.fireChannelInactive()
    }

    private func connectionGone() {
        self.closeState = .closed
        self.sweeper?.remove(self)
        self.sweeper = nil
        self.closeTimer?.cancel()
        self.closeTimer = nil
        guard !self.notifiedClose else { return }
        self.notifiedClose = true
        self.connection.handler = nil
        self.delegate.webSocketDidClose(self.connection)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.parserFailed else {
            // The parser gave up after a refused frame, so it cannot show us the peer's Close;
            // any bytes the peer sends after our Close stand for it.
            if self.closeState != .open { context.close(promise: nil) }
            return
        }
        self.parser.append(Self.unwrapInboundIn(data))
        while true {
            let frame: WebSocketFrame?
            do {
                frame = try self.parser.next()
            } catch {
                // The frame is too large, or a control frame is fragmented or over 125 bytes.
                self.parserFailed = true
                let failure = MessageFailure(error, maxMessageBytes: self.limits.maxMessageBytes)
                self.initiateClose(code: failure.code, reason: failure.reason)
                return
            }
            guard let frame else { return }
            self.receive(frame, context: context)
        }
    }

    private func receive(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        var frame = frame
        self.keepAlive.frameReceived(at: .now())
        switch self.closeState {
        case .closed:
            return
        case .closeSent:
            // §7.1.1: after both Close frames "the server SHOULD close the underlying TCP
            // connection"; other frames arriving meanwhile are discarded.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        case .open:
            break
        }
        // §5.1: "a client MUST mask all frames that it sends to the server [...] A server MUST
        // close the connection upon receiving a frame that is not masked."
        guard let key = frame.maskKey else {
            self.initiateClose(code: .protocolError, reason: "unmasked client frame")
            return
        }
        var payload = frame.data
        payload.applyWebSocketMask(key)
        frame.data = payload
        frame.maskKey = nil

        switch self.assembler.receive(frame) {
        case .none, .pong:
            break
        case .ping(let payload):
            // §5.5.3: "A Pong frame sent in response to a Ping frame must have identical
            // "Application data" as found in the message body of the Ping frame being replied to."
            self.write(OutboundFrame.bytes(opcode: .pong, payload: payload, allocator: context.channel.allocator))
        case .deliver(let message):
            self.deliver(message, allocator: context.channel.allocator)
        case .peerClosed(let code, _):
            // §5.5.1: "If an endpoint receives a Close frame and did not previously send a Close
            // frame, the endpoint MUST send a Close frame in response. [...] it typically echos
            // the status code it received." No code received: answer 1000.
            self.closeState = .closed
            let reply = OutboundFrame.close(code: code ?? 1000, reason: "", allocator: context.channel.allocator)
            self.closeAfterWriting(reply, context: context)
        case .fail(let code, let reason):
            self.initiateClose(code: code, reason: reason)
        }
    }

    private func deliver(_ message: AssembledMessage, allocator: ByteBufferAllocator) {
        let decoded = MessageDecompression.payload(
            of: message,
            inflater: self.inflater,
            maxMessageBytes: self.limits.maxMessageBytes,
            allocator: allocator
        )
        switch (decoded, message.kind) {
        case (.failure(let failure), _):
            self.initiateClose(code: failure.code, reason: failure.reason)
        case (.success(let payload), .text):
            self.delegate.webSocket(self.connection, didReceiveText: String(buffer: payload))
        case (.success(let payload), .binary):
            self.delegate.webSocket(self.connection, didReceiveBinary: payload)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: Outbound

    /// Queues complete frame bytes, deferring the flush (see `scheduleFlush`).
    func send(_ frame: ByteBuffer) -> SendResult {
        // `closeState` turns `.closed` on channelInactive, so the channel need not be asked.
        guard self.closeState == .open, self.context != nil else { return .closed }
        // The channel is unwritable while more than `outboundHighWaterMark` bytes are queued.
        guard self.writable else { return .overflow }
        self.write(frame)
        return .enqueued
    }

    func write(_ frame: ByteBuffer) {
        self.context?.write(Self.wrapOutboundOut(frame), promise: nil)
        self.scheduleFlush()
    }

    /// Flushes at most once per event-loop tick: every frame written during this tick (a burst
    /// of fan-out messages, the echoes of one read) leaves in one `writev`.
    private func scheduleFlush() {
        guard !self.flushPending, let flusher = self.flusher else { return }
        self.flushPending = true
        flusher.flushSoon(self)
    }

    /// Called by the loop's flusher at the end of the tick.
    func flushNow() {
        self.flushPending = false
        self.context?.flush()
    }

    /// Sends a Close frame and waits (bounded) for the peer's Close before dropping the TCP
    /// connection. §7.1.7: "If _The WebSocket Connection is Established_ prior to the point where
    /// the endpoint is required to _Fail the WebSocket Connection_, the endpoint SHOULD send a
    /// Close frame with an appropriate status code before proceeding to _Close the WebSocket
    /// Connection_."
    func initiateClose(code: WebSocketErrorCode, reason: String) {
        guard self.closeState == .open, let context = self.context else { return }
        self.closeState = .closeSent
        let frame = OutboundFrame.close(code: UInt16(webSocketErrorCode: code), reason: reason, allocator: context.channel.allocator)
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
        self.closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.limits.closeHandshakeTimeout) {
            self.context?.close(promise: nil)
        }
    }

    /// Writes a last frame and closes the channel once it has reached the socket (closing at once
    /// would discard it if the socket buffer is full), or after the handshake timeout.
    private func closeAfterWriting(_ frame: ByteBuffer, context: ChannelHandlerContext) {
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        self.closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.limits.closeHandshakeTimeout) {
            context.close(promise: nil)
        }
    }
}
