import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import TsunaguWebSocket

/// What a client handler told its delegate.
private final class RecordingDelegate: WebSocketClientDelegate {
    var texts: [String] = []
    var failures: [WebSocketClientError] = []
    var closes: [(code: UInt16?, reason: String)] = []

    func webSocketDidReceive(text: ByteBuffer) { self.texts.append(String(buffer: text)) }
    func webSocketDidFail(_ error: WebSocketClientError) { self.failures.append(error) }
    func webSocketDidClose(code: UInt16?, reason: String) { self.closes.append((code, reason)) }
}

/// The client role's frame handling on an `EmbeddedChannel`: masking (RFC 6455 §5.3), the
/// server's frames, the closing handshake, permessage-deflate both ways.
@Suite("Client handler")
struct WebSocketClientHandlerTests {
    private let delegate = RecordingDelegate()

    private func makeChannel(compression: PermessageDeflate? = nil) throws -> EmbeddedChannel {
        let handler = WebSocketClientHandler(compression: compression, maxMessageBytes: 1 << 16)
        handler.delegate = self.delegate
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func handler(_ channel: EmbeddedChannel) throws -> WebSocketClientHandler {
        try channel.pipeline.syncOperations.handler(type: WebSocketClientHandler.self)
    }

    /// The next frame the client wrote, as the server's parser sees it.
    private func sentFrame(_ channel: EmbeddedChannel) throws -> WebSocketFrame {
        var parser = FrameParser(maxFrameSize: 1 << 20)
        parser.append(try #require(try channel.readOutbound(as: ByteBuffer.self)))
        return try #require(try parser.next())
    }

    private func unmasked(_ frame: WebSocketFrame) throws -> ByteBuffer {
        var data = frame.data
        data.applyWebSocketMask(try #require(frame.maskKey))
        return data
    }

    @Test func everyFrameSentIsMaskedWithItsOwnKey() throws {
        let channel = try self.makeChannel()
        let handler = try self.handler(channel)
        let text = String(repeating: "mask me ", count: 40)
        var keys: [WebSocketMaskingKey] = []
        for _ in 0..<4 {
            handler.send(text: ByteBuffer(string: text), flush: true, promise: nil)
            let frame = try self.sentFrame(channel)
            #expect(frame.fin && frame.opcode == .text && !frame.rsv1)
            let key = try #require(frame.maskKey)
            #expect(String(buffer: frame.data) != text)
            #expect(String(buffer: try self.unmasked(frame)) == text)
            keys.append(key)
        }
        #expect(Set(keys.map { Array($0) }).count > 1)
    }

    @Test func maskingMatchesTheRFCDefinitionAtEveryLengthAndOffset() {
        // §5.3: octet i XOR key octet (i mod 4), checked against the eight-bytes-at-a-time loop.
        let key = WebSocketMaskingKey([0x37, 0xFA, 0x21, 0x3D])!
        for length in [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 125, 126, 1000] {
            let payload = ByteBuffer(bytes: (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let frame = OutboundFrame.bytes(opcode: .binary, payload: payload, maskingKey: key, allocator: ByteBufferAllocator())
            let header = OutboundFrame.headerLength(payloadLength: length)
            let bytes = Array(frame.readableBytesView)
            #expect(bytes[1] & 0x80 != 0)  // MASK bit
            #expect(Array(bytes[header..<header + 4]) == [0x37, 0xFA, 0x21, 0x3D])
            let expected = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ key[$0 % 4] }
            #expect(Array(bytes[(header + 4)...]) == expected)
        }
    }

    @Test func unmaskedServerFramesAreDelivered() throws {
        let channel = try self.makeChannel()
        let allocator = ByteBufferAllocator()
        try channel.writeInbound(OutboundFrame.bytes(opcode: .text, payload: ByteBuffer(string: "{\"a\":1}"), allocator: allocator))
        // A fragmented message with a Ping in between, in one read.
        var read = OutboundFrame.bytes(opcode: .text, fin: false, payload: ByteBuffer(string: "frag"), allocator: allocator)
        read.writeImmutableBuffer(OutboundFrame.bytes(opcode: .ping, payload: ByteBuffer(string: "p"), allocator: allocator))
        read.writeImmutableBuffer(OutboundFrame.bytes(opcode: .continuation, payload: ByteBuffer(string: "ments"), allocator: allocator))
        try channel.writeInbound(read)
        #expect(self.delegate.texts == ["{\"a\":1}", "fragments"])
        let pong = try self.sentFrame(channel)
        #expect(pong.opcode == .pong)
        #expect(String(buffer: try self.unmasked(pong)) == "p")
        #expect(self.delegate.failures.isEmpty)
    }

    @Test func aMaskedServerFrameFailsTheConnectionWith1002() throws {
        let channel = try self.makeChannel()
        let frame = OutboundFrame.bytes(opcode: .text, payload: ByteBuffer(string: "hi"), maskingKey: .random(), allocator: ByteBufferAllocator())
        try channel.writeInbound(frame)
        #expect(self.delegate.texts.isEmpty)
        #expect(self.delegate.failures == [.protocolViolation("masked server frame")])
        let close = try self.sentFrame(channel)
        #expect(close.opcode == .connectionClose)
        #expect(try self.unmasked(close).getInteger(at: 0, as: UInt16.self) == 1002)
    }

    @Test func invalidUTF8TextFailsWith1007() throws {
        let channel = try self.makeChannel()
        try channel.writeInbound(OutboundFrame.bytes(opcode: .text, payload: ByteBuffer(bytes: [0x7B, 0xC3, 0x28]), allocator: ByteBufferAllocator()))
        #expect(self.delegate.texts.isEmpty)
        let close = try self.sentFrame(channel)
        #expect(try self.unmasked(close).getInteger(at: 0, as: UInt16.self) == 1007)
    }

    @Test func theServersCloseIsEchoedAndReported() throws {
        let channel = try self.makeChannel()
        let close = OutboundFrame.close(code: 4008, reason: "slow", allocator: ByteBufferAllocator())
        try channel.writeInbound(close)
        let echo = try self.sentFrame(channel)
        #expect(echo.opcode == .connectionClose)
        #expect(try self.unmasked(echo).getInteger(at: 0, as: UInt16.self) == 4008)
        #expect(!channel.isActive)
        #expect(self.delegate.closes.map(\.code) == [4008])
        #expect(self.delegate.closes.map(\.reason) == ["slow"])
        // Nothing more can be sent.
        let promise = channel.eventLoop.makePromise(of: Void.self)
        try self.handler(channel).send(text: ByteBuffer(string: "late"), flush: true, promise: promise)
        #expect(throws: WebSocketClientError.closed(code: 4008, reason: "connection closed")) { try promise.futureResult.wait() }
    }

    @Test func aClientCloseEndsWhenTheServerAnswers() throws {
        let channel = try self.makeChannel()
        try self.handler(channel).startClose(code: 1000, reason: "bye", timeout: .seconds(2))
        let close = try self.sentFrame(channel)
        var body = try self.unmasked(close)
        #expect(body.readInteger(as: UInt16.self) == 1000)
        #expect(body.readString(length: body.readableBytes) == "bye")
        #expect(channel.isActive)
        try channel.writeInbound(OutboundFrame.close(code: 1000, reason: "", allocator: ByteBufferAllocator()))
        #expect(!channel.isActive)
        #expect(self.delegate.closes.map(\.code) == [1000])
    }

    @Test func withDeflateMessagesAreCompressedAndMaskedAndInflatedOnReceipt() throws {
        let agreed = try #require(try PermessageDeflate.negotiated(
            byResponse: ["permessage-deflate; server_no_context_takeover; client_no_context_takeover"]))
        let channel = try self.makeChannel(compression: agreed)
        let text = String(repeating: "compress me ", count: 50)
        try self.handler(channel).send(text: ByteBuffer(string: text), flush: true, promise: nil)
        let frame = try self.sentFrame(channel)
        #expect(frame.rsv1)
        let compressed = try self.unmasked(frame)
        #expect(compressed.readableBytes < text.utf8.count / 4)
        let inflater = MessageInflater(noContextTakeover: true, maxOutput: 1 << 16)
        #expect(String(buffer: try inflater.decompress(compressed, allocator: ByteBufferAllocator())) == text)
        // The server's compressed frames, as the fan-out writes them.
        try channel.writeInbound(SharedFrame(text: text).compressedFrame())
        try channel.writeInbound(SharedFrame(text: "again").compressedFrame())
        #expect(self.delegate.texts == [text, "again"])
    }

    @Test func withoutDeflateRSV1FailsTheConnection() throws {
        let channel = try self.makeChannel()
        try channel.writeInbound(SharedFrame(text: "compressed").compressedFrame())
        #expect(self.delegate.texts.isEmpty)
        #expect(self.delegate.failures.count == 1)
        let close = try self.sentFrame(channel)
        #expect(try self.unmasked(close).getInteger(at: 0, as: UInt16.self) == 1002)
    }
}
