import NIOCore

/// Receives what a `WebSocketClient` connection delivers, on its event loop.
public protocol WebSocketClientDelegate: AnyObject, SendableMetatype {
    /// One complete text message: reassembled, inflated, valid UTF-8.
    func webSocketDidReceive(text: ByteBuffer)
    /// The server broke the protocol; the client is failing the connection (a close follows).
    func webSocketDidFail(_ error: WebSocketClientError)
    /// The connection ended; called once. `code` is the status code of the server's Close frame
    /// (1005 when it carried none), nil when the connection ended without one.
    func webSocketDidClose(code: UInt16?, reason: String)
}

/// A delegate made of two closures, for callers that need no state of their own on the loop.
final class WebSocketClientCallbacks: WebSocketClientDelegate {
    private let onText: @Sendable (ByteBuffer) -> Void
    private let onClose: @Sendable (UInt16?, String) -> Void
    private var failure: String?

    init(onText: @escaping @Sendable (ByteBuffer) -> Void, onClose: @escaping @Sendable (UInt16?, String) -> Void) {
        self.onText = onText
        self.onClose = onClose
    }

    func webSocketDidReceive(text: ByteBuffer) { self.onText(text) }

    func webSocketDidFail(_ error: WebSocketClientError) { self.failure = error.description }

    func webSocketDidClose(code: UInt16?, reason: String) {
        self.onClose(code, self.failure.map { "\($0); \(reason)" } ?? reason)
    }
}
