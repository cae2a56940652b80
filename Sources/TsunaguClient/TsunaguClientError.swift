import TsunaguWebSocket

/// Errors of the Tsunagu client.
public enum TsunaguClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No answer within the time asked for.
    case timeout
    /// The connection is closed. `code` is the close code the server sent (nil when the TCP
    /// connection ended without a close frame, or this side closed it).
    case closed(code: UInt16?, reason: String)
    /// The server answered the WebSocket upgrade (or an HTTP request) with this status instead of 101.
    case handshakeFailed(status: Int)
    /// The peer broke the protocol (or asked for something this client cannot do).
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .timeout: return "timed out"
        case .closed(let code, let reason):
            return "connection closed (code \(code.map(String.init) ?? "none")\(reason.isEmpty ? "" : ": \(reason)"))"
        case .handshakeFailed(let status): return "WebSocket handshake failed with HTTP status \(status)"
        case .protocolViolation(let what): return "protocol violation: \(what)"
        }
    }

    /// The same failure of the WebSocket connection underneath.
    init(_ error: WebSocketClientError) {
        switch error {
        case .timeout: self = .timeout
        case .handshakeFailed(let status): self = .handshakeFailed(status: status)
        case .invalidHandshake(let what): self = .protocolViolation("WebSocket upgrade refused: \(what)")
        case .protocolViolation(let what): self = .protocolViolation(what)
        case .closed(let code, let reason): self = .closed(code: code, reason: reason)
        }
    }

    /// `error` as this client reports it: WebSocket errors become `TsunaguClientError`s, socket
    /// errors stay as they are.
    static func converting(_ error: any Error) -> any Error {
        (error as? WebSocketClientError).map(TsunaguClientError.init) ?? error
    }
}
