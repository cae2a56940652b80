// The byte splice between a client and a backend, hand-written on purpose: the balancer is an L4
// proxy and no library available here splices two NIO channels (swift-nio ships the pattern only
// as an example program, swift-nio-extras has no TCP proxy, and the HTTP-level proxies terminate
// the protocol, which would break TLS end to end). It is the classic NIO "GlueHandler": two
// handlers, one per channel, that know each other.
//
// - Back-pressure: a side reads only while its partner's channel is writable. When the partner's
//   outbound buffer passes its high-water mark, reads stop (the kernel buffers fill and TCP slows
//   the sender); when it drains below the low-water mark, the held read is issued. The balancer
//   thus holds at most the NIO write buffer per direction, whatever the transfer size.
// - Half-close: an EOF read on one side becomes a shutdown of the partner's output once every
//   byte read before it is written, so protocols that half-close (and TLS close_notify followed
//   by FIN) pass through.
// - Close: when one side closes, the partner writes what it still holds, then closes.
//
// Both channels must be on the same event loop: the handlers call each other directly.

import NIOCore
import Synchronization

final class GlueHandler {
    /// How long a side whose partner has closed may take to write what it still holds before it
    /// is closed anyway (a peer that never reads must not keep a connection forever).
    static let drainTimeout: TimeAmount = .seconds(30)

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    /// A `read` was held back because the partner was not writable.
    private var pendingRead = false
    /// The partner has closed or half-closed; nothing more will be written to this side.
    private var partnerFinished = false

    /// Where the bytes each side reads are counted (`/metrics`), if anywhere; `toBackend`: this
    /// is the client's side, whose reads go to the backend.
    private let traffic: BackendTraffic?
    private let toBackend: Bool

    private init(counter: BackendTraffic?, toBackend: Bool) {
        self.traffic = counter
        self.toBackend = toBackend
    }

    /// Two handlers glued to each other: add the first to the client's pipeline, the second to
    /// the backend's. With `traffic`, the bytes each way are counted there.
    static func matchedPair(traffic: BackendTraffic? = nil) -> (GlueHandler, GlueHandler) {
        let first = GlueHandler(counter: traffic, toBackend: true)
        let second = GlueHandler(counter: traffic, toBackend: false)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    // MARK: Calls from the partner

    private func partnerWrite(_ data: ByteBuffer) {
        self.context?.write(NIOAny(data), promise: nil)
    }

    private func partnerFlush() {
        self.context?.flush()
    }

    private var partnerWritable: Bool {
        self.context?.channel.isWritable ?? false
    }

    private func partnerBecameWritable() {
        if self.pendingRead {
            self.pendingRead = false
            self.context?.read()
        }
    }

    /// The partner read EOF: shut this side's output once the bytes before the EOF are written.
    ///
    /// `close(mode: .output)` is deferred to the completion of an empty write because NIO turns
    /// an output close on a channel whose input is already closed into a full close, which drops
    /// writes still pending.
    private func partnerWriteEOF() {
        guard let context = self.context, !self.partnerFinished else { return }
        self.partnerFinished = true
        self.afterPendingWrites(context) { channel in
            channel.close(mode: .output, promise: nil)
        }
    }

    /// The partner closed: close this side once the bytes it still holds are written.
    private func partnerClosed() {
        guard let context = self.context else { return }
        self.partnerFinished = true
        self.afterPendingWrites(context) { channel in
            channel.close(promise: nil)
        }
        // Closing a channel whose writes never drain would otherwise hang on a peer that stopped
        // reading; cap the wait.
        let channel = context.channel
        let deadline = context.eventLoop.scheduleTask(in: Self.drainTimeout) {
            channel.close(promise: nil)
        }
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
    }

    private func afterPendingWrites(
        _ context: ChannelHandlerContext,
        _ body: @escaping @Sendable (Channel) -> Void
    ) {
        // Writes complete in order, so an empty write completes once everything before it has
        // reached the socket (or failed because the channel closed).
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(ByteBuffer()), promise: written)
        written.futureResult.whenComplete { _ in
            body(channel)
        }
    }
}

extension GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        if let traffic = self.traffic {
            if self.toBackend {
                traffic.bytesToBackend.add(buffer.readableBytes, ordering: .relaxed)
            } else {
                traffic.bytesFromBackend.add(buffer.readableBytes, ordering: .relaxed)
            }
        }
        self.partner?.partnerWrite(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let partner = self.partner
        self.partner = nil
        partner?.partner = nil
        partner?.partnerClosed()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            self.partner?.partnerWriteEOF()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A reset or a failed write: nothing more can be relayed on this side. Closing it makes
        // `channelInactive` close the partner.
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if self.partner?.partnerWritable ?? false {
            context.read()
        } else if self.partner != nil {
            self.pendingRead = true
        }
        // With no partner (it has gone), reading more would only buffer bytes with nowhere to go.
    }
}
