import NIOCore
import NIOWebSocket

/// Why an inbound message cannot be delivered; the connection fails with `code`.
struct MessageFailure: Error, Equatable {
    var code: WebSocketErrorCode
    var reason: String

    init(code: WebSocketErrorCode, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// A frame `FrameParser` refused (with the errors NIO's decoder uses). §7.4.1: 1009 for "a message that is too big
    /// for it to process"; §5.5: control frames "MUST have a payload length of 125 bytes or less
    /// and MUST NOT be fragmented", a protocol error (1002).
    init(_ error: NIOWebSocketError, maxMessageBytes: Int) {
        switch error {
        case .invalidFrameLength:
            self.init(code: .messageTooLarge, reason: "frame exceeds \(maxMessageBytes) bytes")
        case .fragmentedControlFrame, .multiByteControlFrameLength:
            self.init(code: .protocolError, reason: "fragmented or oversized control frame")
        }
    }
}

/// The second stage of inbound processing: turns an `AssembledMessage` into the payload handed to
/// the delegate, inflating it when RSV1 was set (RFC 7692 §7.2.2) and validating compressed text
/// after inflation (uncompressed text was validated fragment by fragment by the assembler).
enum MessageDecompression {
    static func payload(
        of message: AssembledMessage,
        inflater: MessageInflater?,
        maxMessageBytes: Int,
        allocator: ByteBufferAllocator
    ) -> Result<ByteBuffer, MessageFailure> {
        guard message.compressed else { return .success(message.payload) }
        guard let inflater else {
            // The assembler only lets RSV1 through when permessage-deflate was agreed.
            return .failure(MessageFailure(code: .protocolError, reason: "compressed message without permessage-deflate"))
        }
        let inflated: ByteBuffer
        do {
            inflated = try inflater.decompress(message.payload, allocator: allocator)
        } catch InflateError.messageTooLarge {
            // The size limit applies to the inflated message: no inflate bombs.
            return .failure(MessageFailure(code: .messageTooLarge, reason: "message exceeds \(maxMessageBytes) bytes"))
        } catch {
            // RFC 7692 §8.2.3.1 leaves the code open; the payload is not what the frame claims.
            return .failure(MessageFailure(code: .dataInconsistentWithMessage, reason: "invalid compressed data"))
        }
        if message.kind == .text, !inflated.withUnsafeReadableBytes({ UTF8Validator.isValid($0) }) {
            return .failure(MessageFailure(code: .dataInconsistentWithMessage, reason: "text message is not UTF-8"))
        }
        return .success(inflated)
    }
}
