import NIOCore
import NIOWebSocket

/// The two kinds of data message (RFC 6455 §5.6).
public enum MessageKind: Sendable, Equatable {
    case text
    case binary
}

/// A complete data message as it arrived: the frames' payloads concatenated, still compressed
/// when RSV1 was set on its first frame.
struct AssembledMessage: Equatable {
    var kind: MessageKind
    var compressed: Bool
    var payload: ByteBuffer
}

/// What the connection must do after one inbound frame.
enum AssemblerAction: Equatable {
    /// Nothing yet: a fragment was stored, or the frame came after the closing handshake.
    case none
    case deliver(AssembledMessage)
    /// §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response".
    case ping(ByteBuffer)
    case pong(ByteBuffer)
    /// The peer started (or answered) the closing handshake with a well-formed Close frame.
    case peerClosed(code: UInt16?, reason: String)
    /// §7.1.7 "_Fail the WebSocket Connection_" with this status code.
    case fail(WebSocketErrorCode, reason: String)
}

/// Message assembly rules of RFC 6455 §5 and RFC 7692 §6 as a pure state machine: fed the
/// (already unmasked) frames of one connection in order, it answers with an action. No I/O, no
/// zlib: the handler inflates compressed messages it is handed.
struct MessageAssembler {
    struct Configuration: Sendable {
        var maxMessageBytes: Int
        var maxCompressedMessageBytes: Int
        var allowsBinary: Bool
        /// permessage-deflate was agreed, which gives RSV1 its meaning.
        var compressionNegotiated: Bool
    }

    /// A data message whose final fragment has not arrived yet.
    struct PartialMessage {
        var kind: MessageKind
        var compressed: Bool
        var payload: ByteBuffer
        /// Uncompressed text is validated fragment by fragment to fail fast (§8.1).
        var utf8: UTF8Validator?
    }

    enum State {
        case idle
        case assembling(PartialMessage)
        /// A Close frame was received or the connection failed: later frames are ignored
        /// (§5.5.1: "The application MUST NOT send any more data frames after sending a Close
        /// frame", and after receiving one the peer has nothing more to say).
        case closed
    }

    let configuration: Configuration
    private(set) var state: State = .idle

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    mutating func receive(_ frame: WebSocketFrame) -> AssemblerAction {
        if case .closed = self.state { return .none }
        let action = self.process(frame)
        switch action {
        case .fail, .peerClosed: self.state = .closed
        case .none, .deliver, .ping, .pong: break
        }
        return action
    }

    private mutating func process(_ frame: WebSocketFrame) -> AssemblerAction {
        // §5.2: "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless an extension is negotiated that
        // defines meanings for non-zero values. If a nonzero value is received and none of the
        // negotiated extensions defines the meaning of such a nonzero value, the receiving
        // endpoint MUST _Fail the WebSocket Connection_." Only permessage-deflate's RSV1 exists.
        if frame.rsv2 || frame.rsv3 {
            return .fail(.protocolError, reason: "reserved bit set")
        }
        switch UInt8(webSocketOpcode: frame.opcode) {
        case 0x8, 0x9, 0xA:
            return self.control(frame)
        case 0x1:
            return self.start(.text, frame)
        case 0x2:
            return self.start(.binary, frame)
        case 0x0:
            return self.continuation(frame)
        default:
            // §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the
            // WebSocket Connection_." (%x3-7 and %xB-F are reserved.)
            return .fail(.protocolError, reason: "reserved opcode")
        }
    }

    private func control(_ frame: WebSocketFrame) -> AssemblerAction {
        // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT
        // be fragmented." NIO's decoder already enforces this; the check keeps the rules whole.
        guard frame.fin, frame.length <= 125 else {
            return .fail(.protocolError, reason: "fragmented or oversized control frame")
        }
        // RFC 7692 §6.1: "An endpoint MUST NOT set the "Per-Message Compressed" bit of control
        // frames".
        guard !frame.rsv1 else {
            return .fail(.protocolError, reason: "RSV1 set on a control frame")
        }
        switch UInt8(webSocketOpcode: frame.opcode) {
        case 0x9:
            return .ping(frame.data)
        case 0xA:
            return .pong(frame.data)
        default:
            switch CloseFrameBody.parse(frame.data) {
            case .valid(let code, let reason): return .peerClosed(code: code, reason: reason)
            case .invalid(let code, let reason): return .fail(code, reason: reason)
            }
        }
    }

    private mutating func start(_ kind: MessageKind, _ frame: WebSocketFrame) -> AssemblerAction {
        // §5.4: "control frames MAY be injected in the middle of a fragmented message", data
        // frames may not: a new message can only begin once the previous one is complete.
        if case .assembling = self.state {
            return .fail(.protocolError, reason: "new data message inside a fragmented message")
        }
        if frame.rsv1 && !self.configuration.compressionNegotiated {
            return .fail(.protocolError, reason: "RSV1 set without a negotiated extension")
        }
        if kind == .binary && !self.configuration.allowsBinary {
            // §7.4.1: 1003 "indicates that an endpoint is terminating the connection because it
            // has received a type of data it cannot accept".
            return .fail(.unacceptableData, reason: "binary messages are not accepted")
        }
        var partial = PartialMessage(
            kind: kind,
            compressed: frame.rsv1,
            payload: frame.data,
            utf8: kind == .text && !frame.rsv1 ? UTF8Validator() : nil
        )
        if let failure = self.check(&partial, adding: frame.data, alreadyIncluded: true) {
            return failure
        }
        return self.finishOrStore(partial, fin: frame.fin)
    }

    private mutating func continuation(_ frame: WebSocketFrame) -> AssemblerAction {
        guard case .assembling(var partial) = self.state else {
            return .fail(.protocolError, reason: "continuation frame without a message to continue")
        }
        // RFC 7692 §6.1: the bit is set "only on the first frame of a compressed message".
        guard !frame.rsv1 else {
            return .fail(.protocolError, reason: "RSV1 set on a continuation frame")
        }
        self.state = .idle  // drop the enum's reference so the append below does not copy
        if let failure = self.check(&partial, adding: frame.data, alreadyIncluded: false) {
            return failure
        }
        partial.payload.writeImmutableBuffer(frame.data)
        return self.finishOrStore(partial, fin: frame.fin)
    }

    /// Size and UTF-8 checks for the bytes one frame adds to `partial`.
    private func check(
        _ partial: inout PartialMessage,
        adding data: ByteBuffer,
        alreadyIncluded: Bool
    ) -> AssemblerAction? {
        let limit = partial.compressed
            ? self.configuration.maxCompressedMessageBytes : self.configuration.maxMessageBytes
        // The first fragment's data already is `partial.payload`; later ones are not yet appended.
        let total = partial.payload.readableBytes + (alreadyIncluded ? 0 : data.readableBytes)
        if total > limit {
            return .fail(.messageTooLarge, reason: "message exceeds \(self.configuration.maxMessageBytes) bytes")
        }
        if var validator = partial.utf8 {
            let valid = data.withUnsafeReadableBytes { validator.validate($0) }
            guard valid else {
                return .fail(.dataInconsistentWithMessage, reason: "text message is not UTF-8")
            }
            partial.utf8 = validator
        }
        return nil
    }

    private mutating func finishOrStore(_ partial: PartialMessage, fin: Bool) -> AssemblerAction {
        guard fin else {
            self.state = .assembling(partial)
            return .none
        }
        self.state = .idle
        if let validator = partial.utf8, !validator.isAtBoundary {
            return .fail(.dataInconsistentWithMessage, reason: "text message ends inside a character")
        }
        return .deliver(AssembledMessage(kind: partial.kind, compressed: partial.compressed, payload: partial.payload))
    }
}
