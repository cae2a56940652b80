import NIOCore

/// Writes complete, pre-serialized frames to the channel.
///
/// NIO's upgrader always installs `WebSocketFrameEncoder`, which only accepts `WebSocketFrame`s
/// and writes a fresh header buffer per frame. Shared frames are already complete frame bytes, so
/// the upgrade inserts this handler directly in front of (head side of) the encoder, below any
/// TLS handler, and the `WebSocketHandler` writes through it: the same `ByteBuffer` (one retain,
/// no copy, no header allocation) goes to every subscriber.
final class RawFrameWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Queues frame bytes; they reach the socket on the next `flush`.
    func write(_ frame: ByteBuffer, promise: EventLoopPromise<Void>? = nil) {
        guard let context = self.context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(Self.wrapOutboundOut(frame), promise: promise)
    }

    func flush() {
        self.context?.flush()
    }
}
