import CZlib
import NIOCore

/// Why an inbound compressed message could not be inflated.
public enum InflateError: Error, Equatable, Sendable {
    /// The inflated message would exceed the size limit (the connection fails with 1009).
    case messageTooLarge
    /// The payload is not a valid raw DEFLATE stream.
    case invalidData
}

/// Decompresses whole messages for permessage-deflate (RFC 7692 §7.2.2).
///
/// "An endpoint uses the following algorithm to decompress a message. 1. Append 4 octets of
/// 0x00 0x00 0xff 0xff to the tail end of the payload of the message. 2. Decompress the resulting
/// data using DEFLATE." With context takeover the inflate stream (its 32 KiB window) carries over
/// to the next message; with `client_no_context_takeover` it is reset after each message.
///
/// Output is bounded by `maxOutput`, so a small "inflate bomb" cannot allocate more than the
/// message limit.
public final class MessageInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let noContextTakeover: Bool
    private let maxOutput: Int

    /// - Parameters:
    ///   - noContextTakeover: reset the inflate window after each message.
    ///   - windowBits: 8...15; the default 15 decodes any window the peer may use.
    ///   - maxOutput: largest inflated message accepted.
    public init(noContextTakeover: Bool, windowBits: Int = 15, maxOutput: Int) {
        self.noContextTakeover = noContextTakeover
        self.maxOutput = maxOutput
        self.stream = .allocate(capacity: 1)
        self.stream.initialize(to: z_stream())
        let bits = Int32(Swift.min(15, Swift.max(8, windowBits)))
        let result = czlib_inflateInit2(self.stream, -bits)
        precondition(result == Z_OK, "inflateInit2 failed (\(result)): out of memory")
    }

    deinit {
        inflateEnd(self.stream)
        self.stream.deinitialize(count: 1)
        self.stream.deallocate()
    }

    /// Inflates one message payload (the frames' payloads concatenated, RSV1 was set on the first).
    /// After an error the inflater is unusable: the caller fails the connection.
    public func decompress(_ message: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        let initial = Swift.min(self.maxOutput + 1, Swift.max(256, message.readableBytes * 4))
        var output = allocator.buffer(capacity: initial)
        let streamEnded = try message.withUnsafeReadableBytes { input in
            try self.inflate(input, into: &output)
        }
        // A message whose DEFLATE stream ended with a BFINAL block (§7.2.3.4) is complete: the
        // 4-octet tail would otherwise be read as the start of a new, truncated stored block.
        if !streamEnded {
            _ = try MessageDeflater.syncFlushTail.withUnsafeBytes { tail in
                try self.inflate(tail, into: &output)
            }
        }
        if self.noContextTakeover {
            inflateReset(self.stream)
        }
        return output
    }

    /// Inflates all of `input`; returns true when the DEFLATE stream ended exactly at its end.
    private func inflate(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer) throws -> Bool {
        self.stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        self.stream.pointee.avail_in = uInt(input.count)
        defer {
            self.stream.pointee.next_in = nil
            self.stream.pointee.avail_in = 0
            self.stream.pointee.next_out = nil
        }
        while true {
            // Allow one byte past the limit so that "exactly at the limit" and "over it" differ.
            let allowance = self.maxOutput + 1 - output.readableBytes
            var result: Int32 = Z_OK
            var outputFull = false
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: Swift.min(allowance, 16 * 1024)) { out in
                let space = Swift.min(out.count, allowance)
                self.stream.pointee.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                self.stream.pointee.avail_out = uInt(space)
                result = CZlib.inflate(self.stream, Z_SYNC_FLUSH)
                outputFull = self.stream.pointee.avail_out == 0
                return space - Int(self.stream.pointee.avail_out)
            }
            if output.readableBytes > self.maxOutput {
                throw InflateError.messageTooLarge
            }
            switch result {
            case Z_OK:
                if self.stream.pointee.avail_in == 0 && !outputFull { return false }
            case Z_STREAM_END:
                // The peer ended the DEFLATE stream (BFINAL=1). The next bytes, if any, start a
                // new stream: the 4-octet tail then decodes as an empty stored block.
                inflateReset(self.stream)
                if self.stream.pointee.avail_in == 0 { return true }
            case Z_BUF_ERROR:
                // No progress possible: all input consumed and everything flushed.
                if self.stream.pointee.avail_in == 0 { return false }
                if !outputFull { throw InflateError.invalidData }
            default:
                throw InflateError.invalidData
            }
        }
    }
}
