import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The outcome of `WebSocketConnection.send`.
public enum SendResult: Sendable, Equatable {
    /// Written to the connection's outbound buffer; flushed before the event loop's next tick.
    case enqueued
    /// The connection's outbound buffer is above its high water mark: the message was dropped.
    /// The caller closes the connection (with `limits.overflowCloseCode`, say).
    case overflow
    /// The connection is closing or closed.
    case closed
}

/// One live WebSocket connection. Bound to its channel's event loop; every method may be called
/// from any thread (calls off the loop hop onto it).
public final class WebSocketConnection: @unchecked Sendable {
    // Immutable after init, so readable from any thread.
    public let channel: Channel
    public let remoteAddress: SocketAddress?
    /// The upgrade request's target (path and query). The whole request head is not kept: its
    /// headers would cost about 1 KB on every idle connection.
    public let uri: String
    /// The agreed permessage-deflate parameters, nil when uncompressed.
    public let compression: PermessageDeflate?
    public let limits: WebSocketLimits

    /// Event-loop confined; nil once the connection is gone.
    var handler: WebSocketHandler?

    init(channel: Channel, requestHead: HTTPRequestHead, compression: PermessageDeflate?, limits: WebSocketLimits) {
        self.channel = channel
        self.remoteAddress = channel.remoteAddress
        self.uri = requestHead.uri
        self.compression = compression
        self.limits = limits
    }

    public var eventLoop: EventLoop { self.channel.eventLoop }
    public var compressionEnabled: Bool { self.compression != nil }
    /// Completes when the TCP connection is closed.
    public var closeFuture: EventLoopFuture<Void> { self.channel.closeFuture }

    /// Writes the frame's precomputed bytes (the compressed form when permessage-deflate was
    /// agreed); the flush is deferred to the end of the event-loop tick.
    ///
    /// Off the event loop the answer is decided on the calling thread from the channel's
    /// (thread-safe) writability; if the connection overflows before the hop lands, the connection
    /// closes itself with `limits.overflowCloseCode` and `limits.overflowCloseReason`.
    @discardableResult
    public func send(_ frame: SharedFrame) -> SendResult {
        self.send(frameBytes: frame.frameBytes(for: self.compression))
    }

    /// A one-off text message (a reply to this connection only).
    @discardableResult
    public func send(text: String) -> SendResult {
        self.send(SharedFrame(text: text))
    }

    /// A one-off binary message (conformance echo only: `/v1/ws` is text-only).
    @discardableResult
    public func send(binary: ByteBuffer) -> SendResult {
        self.send(SharedFrame(binary: binary))
    }

    /// The fan-out path: the caller is on this connection's event loop (a subscription), so the
    /// thread check is skipped.
    @discardableResult
    public func sendOnLoop(_ frame: SharedFrame) -> SendResult {
        self.eventLoop.assertInEventLoop()
        return self.handler?.send(frame.frameBytes(for: self.compression)) ?? .closed
    }

    private func send(frameBytes: ByteBuffer) -> SendResult {
        if self.eventLoop.inEventLoop {
            return self.handler?.send(frameBytes) ?? .closed
        }
        guard self.channel.isActive else { return .closed }
        guard self.channel.isWritable else { return .overflow }
        self.eventLoop.execute {
            guard let handler = self.handler else { return }
            if handler.send(frameBytes) == .overflow {
                handler.initiateClose(code: self.limits.overflowCloseErrorCode, reason: self.limits.overflowCloseReason)
            }
        }
        return .enqueued
    }

    /// Starts the closing handshake: sends a Close frame, then closes the channel when the peer's
    /// Close arrives or after `limits.closeHandshakeTimeout`.
    public func close(code: WebSocketErrorCode, reason: String) {
        if self.eventLoop.inEventLoop {
            self.handler?.initiateClose(code: code, reason: reason)
        } else {
            self.eventLoop.execute {
                self.handler?.initiateClose(code: code, reason: reason)
            }
        }
    }
}
