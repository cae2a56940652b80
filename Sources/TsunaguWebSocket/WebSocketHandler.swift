import NIOCore
import NIOWebSocket

/// The per-connection WebSocket message layer, sitting after NIO's `WebSocketFrameDecoder`.
///
/// It owns the `MessageAssembler` (framing rules), the inflater, the closing handshake, the
/// keep-alive ping timer and the deferred flush. All state is confined to the channel's event loop.
final class WebSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame

    private enum CloseState {
        case open
        /// We sent a Close frame and wait for the peer's (§7.1.2 "Start the WebSocket Closing
        /// Handshake"); data frames are no longer delivered.
        case closeSent
        /// Both Close frames were exchanged or the connection was given up.
        case closed
    }

    private let connection: WebSocketConnection
    private let delegate: WebSocketMessageDelegate
    private let writer: RawFrameWriter
    private let limits: WebSocketLimits
    private var assembler: MessageAssembler
    private let inflater: MessageInflater?
    private var context: ChannelHandlerContext?

    private var closeState = CloseState.open
    private var flushPending = false
    /// NIO's frame decoder threw (oversized or malformed frame) and drops all further input.
    private var decoderFailed = false
    private var notifiedClose = false
    private var lastInbound = NIODeadline.now()
    private var pingTimer: Scheduled<Void>?
    private var pongDeadline: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?

    init(connection: WebSocketConnection, delegate: WebSocketMessageDelegate, writer: RawFrameWriter) {
        self.connection = connection
        self.delegate = delegate
        self.writer = writer
        self.limits = connection.limits
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
        self.connection.handler = self
        self.lastInbound = .now()
        self.schedulePing(in: self.limits.pingInterval)
        self.delegate.webSocketDidOpen(self.connection)
        if !context.channel.isActive {
            self.connectionGone()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.connectionGone()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connectionGone()
        context.fireChannelInactive()
    }

    private func connectionGone() {
        self.closeState = .closed
        self.pingTimer?.cancel()
        self.pongDeadline?.cancel()
        self.closeTimer?.cancel()
        self.pingTimer = nil
        self.pongDeadline = nil
        self.closeTimer = nil
        guard !self.notifiedClose else { return }
        self.notifiedClose = true
        self.connection.handler = nil
        self.delegate.webSocketDidClose(self.connection)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = Self.unwrapInboundIn(data)
        self.peerIsAlive()
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
        var payload = message.payload
        if message.compressed {
            guard let inflater = self.inflater else {
                self.initiateClose(code: .protocolError, reason: "compressed message without permessage-deflate")
                return
            }
            do {
                payload = try inflater.decompress(payload, allocator: allocator)
            } catch InflateError.messageTooLarge {
                self.initiateClose(code: .messageTooLarge, reason: "message exceeds \(self.limits.maxMessageBytes) bytes")
                return
            } catch {
                self.initiateClose(code: .dataInconsistentWithMessage, reason: "invalid compressed data")
                return
            }
            if message.kind == .text, !payload.withUnsafeReadableBytes({ UTF8Validator.isValid($0) }) {
                self.initiateClose(code: .dataInconsistentWithMessage, reason: "text message is not UTF-8")
                return
            }
        }
        switch message.kind {
        case .text:
            self.delegate.webSocket(self.connection, didReceiveText: String(buffer: payload))
        case .binary:
            self.delegate.webSocket(self.connection, didReceiveBinary: payload)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let error = error as? NIOWebSocketError {
            self.decoderFailed = true
            switch error {
            case .invalidFrameLength:
                self.initiateClose(code: .messageTooLarge, reason: "frame exceeds \(self.limits.maxMessageBytes) bytes")
            case .fragmentedControlFrame, .multiByteControlFrameLength:
                self.initiateClose(code: .protocolError, reason: "fragmented or oversized control frame")
            }
        } else if let error = error as? ByteToMessageDecoderError, case .dataReceivedInErrorState = error {
            // The decoder gave up after an error, so it cannot show us the peer's Close; any
            // bytes the peer sends after our Close stand for it.
            if self.closeState != .open { context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

    // MARK: Outbound

    /// Queues complete frame bytes, deferring the flush (see `scheduleFlush`).
    func send(_ frame: ByteBuffer) -> SendResult {
        guard self.closeState == .open, let context = self.context, context.channel.isActive else {
            return .closed
        }
        // The channel is unwritable while more than `outboundHighWaterMark` bytes are queued.
        guard context.channel.isWritable else { return .overflow }
        self.write(frame)
        return .enqueued
    }

    private func write(_ frame: ByteBuffer) {
        self.writer.write(frame)
        self.scheduleFlush()
    }

    /// Flushes at most once per event-loop tick: every frame written during this tick (a burst
    /// of fan-out messages, the echoes of one read) leaves in one `writev`.
    private func scheduleFlush() {
        guard !self.flushPending, let context = self.context else { return }
        self.flushPending = true
        context.eventLoop.assumeIsolated().execute {
            self.flushPending = false
            self.writer.flush()
        }
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
        self.writer.write(frame)
        self.writer.flush()
        self.closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.limits.closeHandshakeTimeout) {
            self.context?.close(promise: nil)
        }
    }

    /// Writes a last frame and closes the channel once it has reached the socket (closing at once
    /// would discard it if the socket buffer is full), or after the handshake timeout.
    private func closeAfterWriting(_ frame: ByteBuffer, context: ChannelHandlerContext) {
        let written = context.eventLoop.makePromise(of: Void.self)
        self.writer.write(frame, promise: written)
        self.writer.flush()
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        self.closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.limits.closeHandshakeTimeout) {
            context.close(promise: nil)
        }
    }

    // MARK: Keep-alive

    private func peerIsAlive() {
        self.lastInbound = .now()
        self.pongDeadline?.cancel()
        self.pongDeadline = nil
    }

    private func schedulePing(in delay: TimeAmount) {
        guard let context = self.context else { return }
        self.pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.pingTick()
        }
    }

    /// Runs `pingInterval` after the last inbound frame. Any inbound frame proves the peer alive;
    /// a connection silent for a whole interval gets a ping and has `pongTimeout` to answer.
    private func pingTick() {
        guard self.closeState == .open, let context = self.context else { return }
        let idle = NIODeadline.now() - self.lastInbound
        guard idle >= self.limits.pingInterval else {
            self.schedulePing(in: self.limits.pingInterval - idle)
            return
        }
        if self.pongDeadline == nil {
            let empty = context.channel.allocator.buffer(capacity: 0)
            self.write(OutboundFrame.bytes(opcode: .ping, payload: empty, allocator: context.channel.allocator))
            self.pongDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: self.limits.pongTimeout) {
                self.pongTimedOut()
            }
        }
        self.schedulePing(in: self.limits.pingInterval)
    }

    /// The peer did not answer: it is gone or hopelessly stalled. Send a last Close (1001) and drop
    /// the connection without waiting for a handshake that will not come.
    private func pongTimedOut() {
        guard self.closeState == .open, let context = self.context else { return }
        self.closeState = .closed
        let frame = OutboundFrame.close(code: 1001, reason: "ping timeout", allocator: context.channel.allocator)
        self.writer.write(frame)
        self.writer.flush()
        context.close(promise: nil)
    }
}
