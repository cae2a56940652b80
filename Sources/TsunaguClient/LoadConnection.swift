import NIOCore

/// A lightweight, callback-based WebSocket connection for load generation: no task or continuation per
/// message, so one process can hold thousands. `onText` runs on the connection's event loop for every
/// complete text message (reassembled, inflated); `onClose` runs there once when the connection ends,
/// with the server's close code (nil without a close frame) and a reason.
public final class LoadConnection: Sendable {
    public let channel: any Channel
    private let handler: NIOLoopBound<ClientFrameHandler>
    /// permessage-deflate was negotiated.
    public let isCompressed: Bool

    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Whether this build supports `offerCompression`.
    public static var compressionAvailable: Bool { ClientDeflate.isAvailable }

    private init(channel: any Channel, handler: NIOLoopBound<ClientFrameHandler>, isCompressed: Bool) {
        self.channel = channel
        self.handler = handler
        self.isCompressed = isCompressed
    }

    /// Connects and upgrades. `eventLoop` picks the loop (default: the group's next).
    public static func connect(
        host: String, port: Int, path: String = "/v1/ws", offerCompression: Bool = false,
        localAddress: String? = nil, group: any EventLoopGroup,
        onText: @escaping @Sendable (ByteBuffer) -> Void,
        onClose: @escaping @Sendable (_ code: UInt16?, _ reason: String) -> Void
    ) -> EventLoopFuture<LoadConnection> {
        var options = WebSocketConnectOptions(host: host, port: port)
        options.path = path
        options.offerCompression = offerCompression
        options.localAddress = localAddress
        return WebSocketConnector.connect(options, group: group) { _ in
            CallbackDelegate(onText: onText, onClose: onClose)
        }.map { established in
            LoadConnection(channel: established.channel, handler: established.handler, isCompressed: established.compressed)
        }
    }

    /// Sends one text message. Callable from any thread; on the connection's event loop it writes at once.
    /// With `flush: false` (on the event loop only) call `flush()` after a batch.
    public func send(_ text: ByteBuffer, flush: Bool = true) {
        if channel.eventLoop.inEventLoop {
            handler.value.sendMessage(text, flush: flush, promise: nil)
        } else {
            let handler = self.handler
            channel.eventLoop.execute { handler.value.sendMessage(text, promise: nil) }
        }
    }

    public func send(_ text: String) {
        send(ByteBuffer(string: text))
    }

    public func flush() {
        if channel.eventLoop.inEventLoop {
            handler.value.flush()
        } else {
            let handler = self.handler
            channel.eventLoop.execute { handler.value.flush() }
        }
    }

    /// Starts the close handshake (code 1000); the channel closes when the server answers or after 2 s.
    public func close() {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.startClose(code: 1000, reason: "", linger: .seconds(2)) }
    }
}

private final class CallbackDelegate: ClientMessageDelegate {
    let onText: @Sendable (ByteBuffer) -> Void
    let onClose: @Sendable (UInt16?, String) -> Void
    var lastError: String?

    init(onText: @escaping @Sendable (ByteBuffer) -> Void, onClose: @escaping @Sendable (UInt16?, String) -> Void) {
        self.onText = onText
        self.onClose = onClose
    }

    func webSocketText(_ message: ByteBuffer) { onText(message) }
    func webSocketProtocolError(_ error: TsunaguClientError) { lastError = error.description }
    func webSocketClosed(code: UInt16?, reason: String) {
        onClose(code, lastError.map { "\($0); \(reason)" } ?? reason)
    }
}
