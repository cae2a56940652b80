import NIOCore
import NIOWebSocket

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
