import CZlib
import NIOCore

/// Compresses whole messages for permessage-deflate (RFC 7692 §7.2.1).
///
/// "An endpoint uses the following algorithm to compress a message. 1. Compress all the octets
/// of the payload of the message using DEFLATE. 2. If the resulting data does not end with an
/// empty DEFLATE block with no compression (the "BTYPE" bits are set to 00), append an empty
/// DEFLATE block with no compression to the tail end. 3. Remove 4 octets (that are 0x00 0x00
/// 0xff 0xff) from the tail end." A sync flush ends every message with exactly that empty block.
///
/// Not thread-safe: one deflater belongs to one connection, or is borrowed from a pool.
public final class MessageDeflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let noContextTakeover: Bool

    /// The message tail every sync-flushed deflate stream ends with (§7.2.1 step 3).
    static let syncFlushTail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    /// - Parameters:
    ///   - noContextTakeover: reset the LZ77 window after each message, so each message can be
    ///     inflated on its own (`*_no_context_takeover`).
    ///   - windowBits: LZ77 window, 9...15 (zlib has no raw-deflate 8-bit window; values outside
    ///     the range are clamped).
    public init(noContextTakeover: Bool, windowBits: Int = 15) {
        self.noContextTakeover = noContextTakeover
        self.stream = .allocate(capacity: 1)
        self.stream.initialize(to: z_stream())
        let bits = Int32(Swift.min(15, Swift.max(9, windowBits)))
        // Negative window bits select a raw deflate stream (no zlib header or checksum), as
        // RFC 7692 §7.2.1 requires; memLevel 8 is zlib's default.
        let result = czlib_deflateInit2(self.stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY)
        precondition(result == Z_OK, "deflateInit2 failed (\(result)): out of memory")
    }

    deinit {
        deflateEnd(self.stream)
        self.stream.deinitialize(count: 1)
        self.stream.deallocate()
    }

    /// Compresses one message payload; the result is the payload of a frame with RSV1 set.
    public func compress(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let bound = Int(deflateBound(self.stream, uLong(message.readableBytes)))
        var output = allocator.buffer(capacity: bound + 16)
        message.withUnsafeReadableBytes { input in
            self.stream.pointee.next_in = UnsafeMutablePointer(
                mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self)
            )
            self.stream.pointee.avail_in = uInt(input.count)
            // "If deflate returns with avail_out == 0, this function must be called again with the
            // same value of the flush parameter and more output space" (zlib.h, Z_SYNC_FLUSH).
            repeat {
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: 64) { out in
                    self.stream.pointee.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    self.stream.pointee.avail_out = uInt(out.count)
                    let result = deflate(self.stream, Z_SYNC_FLUSH)
                    // Z_BUF_ERROR only means "no progress possible", never corruption.
                    precondition(result == Z_OK || result == Z_BUF_ERROR, "deflate failed (\(result))")
                    return out.count - Int(self.stream.pointee.avail_out)
                }
            } while self.stream.pointee.avail_out == 0
            self.stream.pointee.next_in = nil
            self.stream.pointee.avail_in = 0
            self.stream.pointee.next_out = nil
        }
        if output.readableBytes >= 4,
            output.getBytes(at: output.writerIndex - 4, length: 4) == Self.syncFlushTail
        {
            output.moveWriterIndex(to: output.writerIndex - 4)
        }
        if self.noContextTakeover {
            deflateReset(self.stream)
        }
        return output
    }
}
