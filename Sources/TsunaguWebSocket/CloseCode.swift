import NIOCore
import NIOWebSocket

/// Close status codes (RFC 6455 §7.4) and the Close frame body (§5.5.1).
enum CloseCode {
    /// Whether a status code may appear in a Close frame.
    ///
    /// §7.4.1 defines 1000–1003 and 1007–1011 for use on the wire; 1012–1014 were added to the
    /// IANA registry later. "1004: Reserved." 1005, 1006 and 1015 "MUST NOT be set as a status
    /// code in a Close control frame by an endpoint." §7.4.2: "0-999: Status codes in the range
    /// 0-999 are not used", 1000–2999 are reserved for this protocol and its extensions (so the
    /// unassigned 1016–2999 are invalid), 3000–3999 are registered with IANA and 4000–4999 are
    /// for private use. Anything above 4999 is undefined.
    static func isValid(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    /// The slow-consumer code Tsunagu closes with when a subscriber's queue overflows.
    static let slowConsumer: UInt16 = 4008
}

/// The parsed body of a received Close frame.
enum CloseFrameBody: Equatable {
    case valid(code: UInt16?, reason: String)
    case invalid(WebSocketErrorCode, reason: String)

    /// §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned
    /// integer (in network byte order) representing a status code [...] Following the 2-byte
    /// integer, the body MAY contain UTF-8-encoded data". A 1-byte body therefore is a protocol
    /// error, as is an invalid code; a reason that is not UTF-8 is invalid payload data (1007).
    static func parse(_ payload: ByteBuffer) -> CloseFrameBody {
        var payload = payload
        guard payload.readableBytes > 0 else { return .valid(code: nil, reason: "") }
        guard let code = payload.readInteger(as: UInt16.self) else {
            return .invalid(.protocolError, reason: "close frame body of 1 byte")
        }
        guard CloseCode.isValid(code) else {
            return .invalid(.protocolError, reason: "invalid close code \(code)")
        }
        let valid = payload.withUnsafeReadableBytes { UTF8Validator.isValid($0) }
        guard valid else {
            return .invalid(.dataInconsistentWithMessage, reason: "close reason is not UTF-8")
        }
        return .valid(code: code, reason: payload.readString(length: payload.readableBytes) ?? "")
    }
}

extension WebSocketErrorCode {
    /// 4008: the subscriber fell too far behind; it reconnects and resumes with `since`.
    public static let slowConsumer = WebSocketErrorCode.unknown(CloseCode.slowConsumer)
    /// The reason text that goes with `slowConsumer`.
    public static let slowConsumerReason = "slow consumer: reconnect and resume with since"
}
