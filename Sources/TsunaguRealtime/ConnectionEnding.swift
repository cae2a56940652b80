import TsunaguCore

/// Why the node ends a client's WebSocket connection, and the close code and reason each sends.
/// The only place that pairs an ending with its code (docs/protocol.md, "Close codes"); the node's
/// `WireMapping` turns it into a Close frame.
public enum ConnectionEnding: Sendable, Equatable {
    /// No valid `auth` was sent within the auth timeout.
    case authTimeout
    /// The session ended: revoked (logout, a disabled account, a password reset) or expired.
    case sessionEnded(SessionEndCause)
    /// The outbound queue overflowed: the client reads too slowly. It resumes with `since`.
    case slowConsumer
    /// The node is leaving; the client was told to reconnect elsewhere.
    case draining
    /// More than the malformed-message budget within a minute.
    case malformedMessages
    /// A store read that a subscription needed failed; the client resumes with `since`.
    case storeUnavailable
    /// The client did not answer pings (sent by the WebSocket layer itself, listed for the record).
    case keepAliveTimeout

    public enum SessionEndCause: String, Sendable, Equatable {
        case revoked, expired
    }

    public var closeCode: UInt16 {
        switch self {
        case .authTimeout: TsunaguCloseCode.authTimeout
        case .sessionEnded: TsunaguCloseCode.sessionEnded
        case .slowConsumer: TsunaguCloseCode.slowConsumer
        case .draining, .keepAliveTimeout: 1001  // RFC 6455 §7.4.1 "going away"
        case .malformedMessages: 1008  // policy violation
        case .storeUnavailable: 1011  // unexpected condition
        }
    }

    /// The Close frame's reason: words for a client author, never data.
    public var reason: String {
        switch self {
        case .authTimeout: "no valid auth within the auth timeout"
        case .sessionEnded(.revoked): "session ended"
        case .sessionEnded(.expired): "session expired"
        case .slowConsumer: Self.slowConsumerReason
        case .draining: "node draining"
        case .malformedMessages: "too many malformed messages"
        case .storeUnavailable: "store unavailable"
        case .keepAliveTimeout: "ping timeout"
        }
    }

    /// The reason that goes with 4008, also used by the WebSocket layer when it closes a
    /// connection whose queue overflowed on a reply.
    public static let slowConsumerReason = "slow consumer: reconnect and resume with since"
}
