/// Why a `WebSocketClient` could not connect, or what ended it.
public enum WebSocketClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The connection or its opening handshake did not complete in time.
    case timeout
    /// The server answered the upgrade request with this HTTP status instead of 101.
    case handshakeFailed(status: Int)
    /// The server answered 101 but its handshake is one RFC 6455 §4.1 (or RFC 7692 §5) says the
    /// client must fail: a wrong `Sec-WebSocket-Accept`, an extension that was not offered, …
    case invalidHandshake(String)
    /// After the upgrade the server broke the protocol (RFC 6455 §7.1.7); the client is closing
    /// the connection with the matching status code.
    case protocolViolation(String)
    /// The connection is closing or closed: nothing more can be sent. `code` is the server's
    /// close code when it sent one.
    case closed(code: UInt16?, reason: String)

    public var description: String {
        switch self {
        case .timeout: return "timed out"
        case .handshakeFailed(let status): return "WebSocket handshake failed with HTTP status \(status)"
        case .invalidHandshake(let what): return "invalid WebSocket handshake: \(what)"
        case .protocolViolation(let what): return "protocol violation: \(what)"
        case .closed(let code, let reason):
            return "connection closed (code \(code.map(String.init) ?? "none")\(reason.isEmpty ? "" : ": \(reason)"))"
        }
    }
}
