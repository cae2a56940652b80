import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// An immutable outbound message, serialized once and written as the same bytes to every
/// connection it is sent to.
///
/// It holds the complete frame (header + payload) of the uncompressed form and, built lazily the
/// first time a permessage-deflate connection needs it, the complete compressed frame. Because the
/// server always negotiates `server_no_context_takeover`, a message compresses to the same bytes
/// for every subscriber and the compressed frame is computed once per window size (normally only
/// the default 15 bits). Thread-safe: fan-out may happen on every event loop at once.
public final class SharedFrame: Sendable {
    /// The message payload (UTF-8 JSON for text messages).
    public let payload: ByteBuffer
    /// Whether this is a text (or binary) message.
    public let kind: MessageKind
    /// The complete uncompressed frame.
    public let uncompressedFrame: ByteBuffer
    /// Complete compressed frames, keyed by the compressor's window bits.
    private let compressedFrames = NIOLockedValueBox<[Int: ByteBuffer]>([:])

    /// A text message; `text` must be UTF-8 (RFC 6455 §5.6: "The "Payload data" is text data
    /// encoded as UTF-8").
    public convenience init(text: ByteBuffer) {
        self.init(kind: .text, payload: text)
    }

    public convenience init(text: String) {
        self.init(text: ByteBuffer(string: text))
    }

    /// A binary message (only the conformance echo sends these).
    public convenience init(binary: ByteBuffer) {
        self.init(kind: .binary, payload: binary)
    }

    init(kind: MessageKind, payload: ByteBuffer) {
        self.kind = kind
        self.payload = payload
        self.uncompressedFrame = OutboundFrame.bytes(
            opcode: kind.opcode,
            payload: payload,
            allocator: ByteBufferAllocator()
        )
    }

    /// The bytes to write to a connection with these compression parameters.
    func frameBytes(for deflate: PermessageDeflate?) -> ByteBuffer {
        guard let deflate else { return self.uncompressedFrame }
        return self.compressedFrame(windowBits: deflate.compressionWindowBits)
    }

    /// The complete compressed frame for a compressor window of `windowBits`.
    public func compressedFrame(windowBits: Int = 15) -> ByteBuffer {
        if let cached = self.compressedFrames.withLockedValue({ $0[windowBits] }) {
            return cached
        }
        // Compress outside the lock: two loops racing for the same message at worst compress it
        // twice, and both results are identical.
        let allocator = ByteBufferAllocator()
        let compressed = DeflaterPool.shared.withDeflater(windowBits: windowBits) { deflater in
            deflater.compress(self.payload, allocator: allocator)
        }
        // RFC 7692 §6 would allow sending a message uncompressed on a deflate connection when
        // deflate makes it larger (tiny messages grow by a few bytes), but some clients (kosoku,
        // the Autobahn runner) mishandle such messages, so every message is sent compressed.
        let frame = OutboundFrame.bytes(opcode: self.kind.opcode, compressed: true, payload: compressed, allocator: allocator)
        return self.compressedFrames.withLockedValue { frames in
            if let existing = frames[windowBits] { return existing }
            frames[windowBits] = frame
            return frame
        }
    }
}

extension MessageKind {
    var opcode: WebSocketOpcode {
        switch self {
        case .text: .text
        case .binary: .binary
        }
    }
}

/// Deflaters (each holds ~256 KiB of zlib state) reused across messages. Every one is reset after
/// each message (no context takeover), so any of them compresses any message identically.
final class DeflaterPool: @unchecked Sendable {
    static let shared = DeflaterPool()

    private let lock = NIOLock()
    // Protected by `lock`.
    private var idle: [Int: [MessageDeflater]] = [:]
    private let maxIdlePerWindow = 8

    func withDeflater<Result>(windowBits: Int, _ body: (MessageDeflater) -> Result) -> Result {
        let deflater = self.lock.withLock { self.idle[windowBits]?.popLast() }
            ?? MessageDeflater(noContextTakeover: true, windowBits: windowBits)
        let result = body(deflater)
        self.lock.withLock {
            if self.idle[windowBits, default: []].count < self.maxIdlePerWindow {
                self.idle[windowBits, default: []].append(deflater)
            }
        }
        return result
    }
}
