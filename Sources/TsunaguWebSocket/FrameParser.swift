import NIOCore
import NIOWebSocket

/// Splits the bytes a client sends into frames (RFC 6455 §5.2), inside `WebSocketHandler`.
///
/// Hand-written on purpose: NIO's `WebSocketFrameDecoder` only works as a pipeline handler behind
/// a `ByteToMessageHandler`, and with its encoder those handlers, their contexts and buffers came
/// to about 1 KB on every idle connection (a third of its memory). This parser is a field of the
/// connection's single handler and holds nothing between reads unless a frame is incomplete.
///
/// It enforces what NIO's decoder enforced, with the same errors, as soon as the header shows it
/// (so a peer cannot make it buffer an oversized frame): the frame size limit, and §5.5 "All
/// control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented."
/// Opcodes, RSV bits and masking are judged by the handler and the `MessageAssembler`.
struct FrameParser {
    let maxFrameSize: Int
    /// Received bytes not yet returned as frames: the start of an incomplete frame.
    private var pending: ByteBuffer?

    init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    /// Whether part of a frame is waiting for more bytes.
    var hasPartialFrame: Bool { self.pending != nil }

    /// Adds bytes read from the connection.
    mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if var buffer = self.pending.take() {
            buffer.discardReadBytes()
            buffer.writeImmutableBuffer(bytes)
            self.pending = buffer
        } else {
            self.pending = bytes
        }
    }

    /// The next complete frame, its payload still masked as sent; nil when more bytes are needed.
    mutating func next() throws(NIOWebSocketError) -> WebSocketFrame? {
        guard var buffer = self.pending.take() else { return nil }
        defer { self.pending = buffer.readableBytes > 0 ? buffer : nil }
        guard let header = try self.header(in: buffer) else { return nil }
        guard buffer.readableBytes >= header.length + header.payloadLength else { return nil }
        buffer.moveReaderIndex(forwardBy: header.length)
        let payload = buffer.readSlice(length: header.payloadLength)!
        return WebSocketFrame(
            fin: header.first & 0x80 != 0,
            rsv1: header.first & 0x40 != 0,
            rsv2: header.first & 0x20 != 0,
            rsv3: header.first & 0x10 != 0,
            opcode: WebSocketOpcode(encodedWebSocketOpcode: header.first & 0x0F)!,
            maskKey: header.maskKey,
            data: payload
        )
    }

    private struct Header {
        var first: UInt8
        var length: Int
        var payloadLength: Int
        var maskKey: WebSocketMaskingKey?
    }

    /// The frame header at the start of `buffer`, nil while it is incomplete.
    private func header(in buffer: ByteBuffer) throws(NIOWebSocketError) -> Header? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return nil }
        let isControl = first & 0x08 != 0
        var payloadLength = Int(second & 0x7F)
        var length = 2
        if isControl {
            guard first & 0x80 != 0 else { throw .fragmentedControlFrame }
            guard payloadLength <= 125 else { throw .multiByteControlFrameLength }
        }
        switch payloadLength {
        case 126:
            guard let extended = buffer.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            payloadLength = Int(extended)
            length = 4
        case 127:
            guard let extended = buffer.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            guard extended <= UInt64(self.maxFrameSize) else { throw .invalidFrameLength }
            payloadLength = Int(extended)
            length = 10
        default:
            break
        }
        guard payloadLength <= self.maxFrameSize else { throw .invalidFrameLength }
        var maskKey: WebSocketMaskingKey?
        if second & 0x80 != 0 {
            guard let key = buffer.viewBytes(at: start + length, length: 4) else { return nil }
            maskKey = WebSocketMaskingKey(key)
            length += 4
        }
        return Header(first: first, length: length, payloadLength: payloadLength, maskKey: maskKey)
    }
}
