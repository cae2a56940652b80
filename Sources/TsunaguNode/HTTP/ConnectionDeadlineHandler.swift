import NIOCore

/// Closes a connection whose client keeps it open without finishing a request: the first handler
/// of every node connection, so it covers the PROXY header, the TLS handshake and the HTTP
/// request alike (docs/security.md, "Slow and greedy clients").
///
/// - From accept, and from the first byte after an idle pause, the whole request (head and
///   body) must arrive within `requestTimeout` (10 s by default): a client that trickles a
///   request head a byte at a time, or connects and says nothing, is closed then.
/// - Between requests of a keep-alive connection, the connection may be silent for
///   `idleTimeout` (60 s by default).
/// - While a request is being answered there is no deadline.
///
/// The HTTP API handler reports requests and answers (`requestReceived`, `responseSent`); when
/// the connection upgrades to WebSocket, whose keep-alive and `auth` timeout take over, or the
/// API handler leaves for any reason, it calls `stop` and this handler removes itself.
final class ConnectionDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        /// Waiting for a request to arrive completely; the deadline runs.
        case receiving
        /// A request is being answered; no deadline.
        case answering
        /// A keep-alive connection between requests; the idle deadline runs.
        case idle
        case stopped
    }

    private let requestTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var state = State.receiving
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(requestTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { arm(requestTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if timer == nil, case .receiving = state { arm(requestTimeout) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .idle = state {
            // The next request starts: from now on it has the request timeout, not the idle one.
            state = .receiving
            arm(requestTimeout)
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancel()
        self.context = nil
    }

    /// A whole request arrived; it is answered without a deadline.
    func requestReceived() {
        guard case .receiving = state else { return }
        state = .answering
        cancel()
    }

    /// Every request received so far is answered; the connection stays open for the next one.
    func responseSent() {
        guard case .answering = state else { return }
        state = .idle
        arm(idleTimeout)
    }

    /// The HTTP layer is gone (a WebSocket upgrade, or the connection closing): no more deadlines.
    func stop() {
        if case .stopped = state { return }
        state = .stopped
        guard let context else { return }
        cancel()
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    private func arm(_ timeout: TimeAmount) {
        cancel()
        guard let context else { return }
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    private func cancel() {
        timer?.cancel()
        timer = nil
    }
}
