import NIOCore
import Testing

@testable import TsunaguWebSocket

@Suite("permessage-deflate codecs (RFC 7692 §7.2)")
struct DeflateCodecTests {
    let allocator = ByteBufferAllocator()

    private func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    @Test func helloMatchesTheRFCExample() throws {
        // §7.2.3.1: "Hello" compressed → 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00.
        let deflater = MessageDeflater(noContextTakeover: true)
        let compressed = deflater.compress(ByteBuffer(string: "Hello"), allocator: self.allocator)
        #expect(self.bytes(compressed) == [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        // With no context takeover the same message compresses to the same bytes every time.
        #expect(self.bytes(deflater.compress(ByteBuffer(string: "Hello"), allocator: self.allocator)) == self.bytes(compressed))

        let inflater = MessageInflater(noContextTakeover: true, maxOutput: 1024)
        #expect(try inflater.decompress(compressed, allocator: self.allocator) == ByteBuffer(string: "Hello"))
    }

    @Test func contextTakeoverAcrossMessagesInflates() throws {
        // §7.2.3.2: the second "Hello" referencing the first through the shared window.
        let inflater = MessageInflater(noContextTakeover: false, maxOutput: 1024)
        let first = ByteBuffer(bytes: [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        let second = ByteBuffer(bytes: [0xF2, 0x00, 0x11, 0x00, 0x00])
        #expect(try inflater.decompress(first, allocator: self.allocator) == ByteBuffer(string: "Hello"))
        #expect(try inflater.decompress(second, allocator: self.allocator) == ByteBuffer(string: "Hello"))

        // And our own deflater with context takeover produces a back-reference the same way.
        let deflater = MessageDeflater(noContextTakeover: false)
        let a = deflater.compress(ByteBuffer(string: "Hello"), allocator: self.allocator)
        let b = deflater.compress(ByteBuffer(string: "Hello"), allocator: self.allocator)
        #expect(b.readableBytes < a.readableBytes)
        let fresh = MessageInflater(noContextTakeover: false, maxOutput: 1024)
        #expect(try fresh.decompress(a, allocator: self.allocator) == ByteBuffer(string: "Hello"))
        #expect(try fresh.decompress(b, allocator: self.allocator) == ByteBuffer(string: "Hello"))
    }

    @Test func storedAndFinalBlocksInflate() throws {
        let inflater = MessageInflater(noContextTakeover: false, maxOutput: 1024)
        // §7.2.3.3: a DEFLATE block with no compression.
        let stored = ByteBuffer(bytes: [0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00])
        #expect(try inflater.decompress(stored, allocator: self.allocator) == ByteBuffer(string: "Hello"))
        // §7.2.3.4: a block with BFINAL set; the stream restarts for the next message.
        let final = ByteBuffer(bytes: [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        #expect(try inflater.decompress(final, allocator: self.allocator) == ByteBuffer(string: "Hello"))
        let next = ByteBuffer(bytes: [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        #expect(try inflater.decompress(next, allocator: self.allocator) == ByteBuffer(string: "Hello"))
    }

    @Test(arguments: [9, 12, 15])
    func roundTripOfLargeMessages(windowBits: Int) throws {
        var text = ""
        for index in 0..<20_000 { text += "{\"seq\":\(index),\"topic\":\"room/\(index % 17)\"}" }
        let message = ByteBuffer(string: text)
        let deflater = MessageDeflater(noContextTakeover: true, windowBits: windowBits)
        let inflater = MessageInflater(noContextTakeover: true, windowBits: windowBits, maxOutput: message.readableBytes)
        for _ in 0..<3 {
            let compressed = deflater.compress(message, allocator: self.allocator)
            #expect(compressed.readableBytes < message.readableBytes / 4)
            #expect(try inflater.decompress(compressed, allocator: self.allocator) == message)
        }
    }

    @Test func emptyMessageRoundTrips() throws {
        let deflater = MessageDeflater(noContextTakeover: true)
        let compressed = deflater.compress(ByteBuffer(), allocator: self.allocator)
        let inflater = MessageInflater(noContextTakeover: true, maxOutput: 10)
        #expect(try inflater.decompress(compressed, allocator: self.allocator).readableBytes == 0)
    }

    @Test func inflateBombIsStoppedAtTheLimit() throws {
        // 8 MiB of zeros deflates to a few KiB; the inflater must stop at its 64 KiB limit.
        let bomb = ByteBuffer(repeating: 0, count: 8 << 20)
        let compressed = MessageDeflater(noContextTakeover: true).compress(bomb, allocator: self.allocator)
        #expect(compressed.readableBytes < 16 * 1024)
        let inflater = MessageInflater(noContextTakeover: true, maxOutput: 65_536)
        #expect(throws: InflateError.messageTooLarge) {
            try inflater.decompress(compressed, allocator: self.allocator)
        }
        // Exactly at the limit is fine.
        let atLimit = ByteBuffer(repeating: 0x41, count: 65_536)
        let ok = MessageInflater(noContextTakeover: true, maxOutput: 65_536)
        let packed = MessageDeflater(noContextTakeover: true).compress(atLimit, allocator: self.allocator)
        #expect(try ok.decompress(packed, allocator: self.allocator) == atLimit)
    }

    @Test func corruptDataIsRejected() {
        let inflater = MessageInflater(noContextTakeover: true, maxOutput: 1024)
        // BTYPE 11 is reserved in DEFLATE (RFC 1951 §3.2.3).
        #expect(throws: InflateError.invalidData) {
            try inflater.decompress(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF]), allocator: self.allocator)
        }
    }

    @Test func compressedFrameBytesMatchTheRFCExample() {
        // §7.2.3.1: "0xc1 0x07 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00" (FIN + RSV1 + text).
        let payload = MessageDeflater(noContextTakeover: true).compress(ByteBuffer(string: "Hello"), allocator: self.allocator)
        let frame = OutboundFrame.bytes(opcode: .text, compressed: true, payload: payload, allocator: self.allocator)
        #expect(self.bytes(frame) == [0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    }

    @Test func sharedFrameCompressesOnce() throws {
        let json = "{\"type\":\"event\",\"payload\":\"" + String(repeating: "abc", count: 200) + "\"}"
        let frame = SharedFrame(text: json)
        #expect(self.bytes(frame.uncompressedFrame).prefix(2) == [0x81, 126])
        let compressed = frame.compressedFrame()
        #expect(self.bytes(compressed).first == 0xC1)
        var body = compressed
        body.moveReaderIndex(forwardBy: 2)
        let inflater = MessageInflater(noContextTakeover: true, maxOutput: 1 << 20)
        #expect(try inflater.decompress(body, allocator: self.allocator) == ByteBuffer(string: json))
        // Cached: the second call hands out the very same storage.
        let again = frame.compressedFrame()
        let same = compressed.withUnsafeReadableBytes { a in again.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress } }
        #expect(same)
    }

    @Test func tinyMessagesAreStillSentCompressed() {
        // "Hello" deflates to 7 bytes; it is sent compressed all the same (see SharedFrame).
        let frame = SharedFrame(text: "Hello")
        #expect(Array(frame.compressedFrame().readableBytesView) == [0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    }

    @Test func frameHeaderLengthEncodings() {
        for (length, header) in [(125, [0x81, 125]), (126, [0x81, 126, 0x00, 126]), (65_535, [0x81, 126, 0xFF, 0xFF]),
                                 (65_536, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0])] as [(Int, [UInt8])] {
            let frame = SharedFrame(text: ByteBuffer(repeating: 0x61, count: length)).uncompressedFrame
            #expect(Array(frame.readableBytesView.prefix(header.count)) == header)
            #expect(frame.readableBytes == header.count + length)
        }
    }
}
