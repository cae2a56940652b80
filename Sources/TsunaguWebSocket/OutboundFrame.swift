import NIOCore
import NIOWebSocket

/// Serializes complete frames (header + payload) into one buffer.
///
/// RFC 6455 §5.1: "A server MUST NOT mask any frames that it sends to the client." Every frame
/// the server sends is a single, final frame (FIN set): messages are never fragmented on the way
/// out, so the bytes can be computed once and shared. The client role passes a masking key:
/// "a client MUST mask all frames that it sends to the server".
enum OutboundFrame {
    /// Frame bytes for `payload` with the given opcode; `compressed` sets RSV1 (RFC 7692 §6:
    /// "the RSV1 bit is set only on the first frame of a compressed message"). With a
    /// `maskingKey` the payload is masked (§5.3) and the key follows the length.
    static func bytes(
        opcode: WebSocketOpcode,
        fin: Bool = true,
        compressed: Bool = false,
        payload: ByteBuffer,
        maskingKey: WebSocketMaskingKey? = nil,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let length = payload.readableBytes
        let headerLength = headerLength(payloadLength: length) + (maskingKey == nil ? 0 : 4)
        var buffer = allocator.buffer(capacity: headerLength + length)
        writeHeader(opcode: opcode, fin: fin, compressed: compressed, masked: maskingKey != nil,
                    payloadLength: length, into: &buffer)
        guard let maskingKey else {
            buffer.writeImmutableBuffer(payload)
            return buffer
        }
        buffer.writeBytes(maskingKey)
        buffer.writeImmutableBuffer(payload)
        buffer.withUnsafeMutableReadableBytes { frame in
            WebSocketMask.apply(maskingKey, to: UnsafeMutableRawBufferPointer(rebasing: frame[headerLength...]))
        }
        return buffer
    }

    /// Header length without the masking key.
    static func headerLength(payloadLength: Int) -> Int {
        switch payloadLength {
        case 0...125: return 2
        case 126...0xFFFF: return 4
        default: return 10
        }
    }

    /// §5.2: FIN, RSV1-3, opcode; then the mask bit and the 7-bit length, or 126 + 16-bit, or
    /// 127 + 64-bit length ("the minimal number of bytes MUST be used to encode the length").
    static func writeHeader(
        opcode: WebSocketOpcode,
        fin: Bool = true,
        compressed: Bool,
        masked: Bool = false,
        payloadLength: Int,
        into buffer: inout ByteBuffer
    ) {
        let first: UInt8 = (fin ? 0x80 : 0) | (compressed ? 0x40 : 0) | UInt8(webSocketOpcode: opcode)
        let mask: UInt8 = masked ? 0x80 : 0
        buffer.writeInteger(first)
        switch payloadLength {
        case 0...125:
            buffer.writeInteger(mask | UInt8(payloadLength))
        case 126...0xFFFF:
            buffer.writeInteger(mask | 126)
            buffer.writeInteger(UInt16(payloadLength))
        default:
            buffer.writeInteger(mask | 127)
            buffer.writeInteger(UInt64(payloadLength))
        }
    }

    /// A Close frame. §5.5.1: the body starts with a 2-byte status code, followed by a UTF-8
    /// reason; control frames carry at most 125 bytes, so the reason is cut to 123 bytes on a
    /// character boundary. Codes that must never be sent (1005, 1006, 1015, anything
    /// `CloseCode.isValid` rejects) produce an empty body.
    static func close(
        code: UInt16?,
        reason: String,
        maskingKey: WebSocketMaskingKey? = nil,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var payload = allocator.buffer(capacity: 125)
        if let code, CloseCode.isValid(code) {
            payload.writeInteger(code)
            var budget = 123
            for scalar in reason.unicodeScalars {
                let size = String(scalar).utf8.count
                guard size <= budget else { break }
                budget -= size
                payload.writeString(String(scalar))
            }
        }
        return bytes(opcode: .connectionClose, payload: payload, maskingKey: maskingKey, allocator: allocator)
    }
}

extension ByteBuffer {
    /// Unmasks (or masks: the operation is its own inverse) the readable bytes in place.
    mutating func applyWebSocketMask(_ key: WebSocketMaskingKey) {
        self.withUnsafeMutableReadableBytes { WebSocketMask.apply(key, to: $0) }
    }
}

/// RFC 6455 §5.3: "octet i of the transformed data is the XOR of octet i of the original data
/// with octet at index i modulo 4 of the masking key".
enum WebSocketMask {
    /// Masks or unmasks `bytes` in place, eight bytes at a time.
    static func apply(_ key: WebSocketMaskingKey, to bytes: UnsafeMutableRawBufferPointer) {
        let k = (key[0], key[1], key[2], key[3])
        var pattern: UInt64 = 0
        withUnsafeMutableBytes(of: &pattern) { raw in
            for index in 0..<8 { raw[index] = [k.0, k.1, k.2, k.3][index % 4] }
        }
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            bytes.storeBytes(of: word ^ pattern, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        let keyBytes = [k.0, k.1, k.2, k.3]
        while index < count {
            bytes[index] ^= keyBytes[index % 4]
            index += 1
        }
    }
}
