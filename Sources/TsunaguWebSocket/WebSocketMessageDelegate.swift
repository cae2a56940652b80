import NIOCore
import NIOWebSocket

/// Receives the messages of one WebSocket connection. Called on the connection's event loop.
public protocol WebSocketMessageDelegate: AnyObject {
    /// The connection is established: the 101 response went out and frames can be sent.
    func webSocketDidOpen(_ connection: WebSocketConnection)
    /// A complete, valid UTF-8 text message (reassembled and inflated).
    func webSocket(_ connection: WebSocketConnection, didReceiveText text: String)
    /// A complete binary message; only delivered when `WebSocketLimits.allowsBinary` is set.
    func webSocket(_ connection: WebSocketConnection, didReceiveBinary data: ByteBuffer)
    /// The TCP connection is gone; called exactly once, after which `send` answers `.closed`.
    func webSocketDidClose(_ connection: WebSocketConnection)
}

extension WebSocketMessageDelegate {
    public func webSocketDidOpen(_ connection: WebSocketConnection) {}
    public func webSocket(_ connection: WebSocketConnection, didReceiveBinary data: ByteBuffer) {}
    public func webSocketDidClose(_ connection: WebSocketConnection) {}
}

/// Echoes text and binary messages back (conformance testing only: mount it with
/// `allowsBinary = true` and limits large enough for Autobahn's 16 MiB messages).
public final class WebSocketEchoDelegate: WebSocketMessageDelegate {
    public init() {}

    public func webSocketDidOpen(_ connection: WebSocketConnection) {}

    public func webSocket(_ connection: WebSocketConnection, didReceiveText text: String) {
        self.handle(connection.send(text: text), on: connection)
    }

    public func webSocket(_ connection: WebSocketConnection, didReceiveBinary data: ByteBuffer) {
        self.handle(connection.send(binary: data), on: connection)
    }

    public func webSocketDidClose(_ connection: WebSocketConnection) {}

    private func handle(_ result: SendResult, on connection: WebSocketConnection) {
        if result == .overflow {
            connection.close(code: connection.limits.overflowCloseErrorCode, reason: connection.limits.overflowCloseReason)
        }
    }
}
