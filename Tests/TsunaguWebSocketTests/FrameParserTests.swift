import NIOCore
import NIOWebSocket
import Testing

@testable import TsunaguWebSocket

@Suite("Frame parsing (RFC 6455 §5.2, §5.5)")
struct FrameParserTests {
    static let key: [UInt8] = [0x11, 0x22, 0x33, 0x44]

    /// A client frame as it arrives: header, masking key, masked payload.
    static func clientFrame(
        opcode: UInt8, fin: Bool = true, rsv1: Bool = false, payload: [UInt8], masked: Bool = true,
        lengthForm: Int? = nil
    ) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch lengthForm ?? (payload.count <= 125 ? 7 : payload.count <= 0xFFFF ? 16 : 64) {
        case 7:
            bytes.append(maskBit | UInt8(payload.count))
        case 16:
            bytes.append(maskBit | 126)
            bytes += withUnsafeBytes(of: UInt16(payload.count).bigEndian, Array.init)
        default:
            bytes.append(maskBit | 127)
            bytes += withUnsafeBytes(of: UInt64(payload.count).bigEndian, Array.init)
        }
        guard masked else { return bytes + payload }
        return bytes + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
    }

    static func unmasked(_ frame: WebSocketFrame) -> [UInt8] {
        var data = frame.data
        if let key = frame.maskKey { data.applyWebSocketMask(key) }
        return Array(data.readableBytesView)
    }

    @Test(arguments: [0, 1, 125, 126, 65_535, 65_536, 100_000])
    func everyLengthFormDecodes(length: Int) throws {
        var parser = FrameParser(maxFrameSize: 1 << 20)
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        parser.append(ByteBuffer(bytes: Self.clientFrame(opcode: 0x2, payload: payload)))
        let frame = try #require(try parser.next())
        #expect(frame.opcode == .binary)
        #expect(frame.fin)
        #expect(frame.maskKey == WebSocketMaskingKey(Self.key))
        #expect(Self.unmasked(frame) == payload)
        #expect(try parser.next() == nil)
        #expect(!parser.hasPartialFrame)
    }

    @Test func framesSplitAtEveryByteAndSeveralInOneReadComeOutInOrder() throws {
        let stream = Self.clientFrame(opcode: 0x1, fin: false, payload: Array("Hel".utf8))
            + Self.clientFrame(opcode: 0x9, payload: Array("ping".utf8))
            + Self.clientFrame(opcode: 0x0, rsv1: false, payload: Array("lo".utf8))
        var parser = FrameParser(maxFrameSize: 1024)
        var frames: [WebSocketFrame] = []
        for byte in stream {
            parser.append(ByteBuffer(bytes: [byte]))
            while let frame = try parser.next() { frames.append(frame) }
        }
        #expect(frames.map(\.opcode) == [.text, .ping, .continuation])
        #expect(frames.map(\.fin) == [false, true, true])
        #expect(frames.map(Self.unmasked) == [Array("Hel".utf8), Array("ping".utf8), Array("lo".utf8)])
        #expect(!parser.hasPartialFrame)

        var whole = FrameParser(maxFrameSize: 1024)
        whole.append(ByteBuffer(bytes: stream))
        var again: [WebSocketFrame] = []
        while let frame = try whole.next() { again.append(frame) }
        #expect(again.map(Self.unmasked) == frames.map(Self.unmasked))
    }

    @Test func reservedBitsAndUnmaskedFramesPassThroughForTheHandlerToJudge() throws {
        var parser = FrameParser(maxFrameSize: 1024)
        parser.append(ByteBuffer(bytes: Self.clientFrame(opcode: 0x1, rsv1: true, payload: [1, 2], masked: false)))
        let frame = try #require(try parser.next())
        #expect(frame.rsv1)
        #expect(frame.maskKey == nil)
        #expect(Array(frame.data.readableBytesView) == [1, 2])
    }

    @Test func anOversizedFrameIsRefusedFromItsHeaderAlone() {
        var parser = FrameParser(maxFrameSize: 1000)
        // Only the header of a 1001-byte frame has arrived.
        parser.append(ByteBuffer(bytes: Array(Self.clientFrame(opcode: 0x2, payload: Array(repeating: 0, count: 1001)).prefix(8))))
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try parser.next() }

        var huge = FrameParser(maxFrameSize: 1000)
        huge.append(ByteBuffer(bytes: [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]))
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try huge.next() }
    }

    @Test func controlFramesMustBeFinalAndShort() {
        var fragmented = FrameParser(maxFrameSize: 1024)
        fragmented.append(ByteBuffer(bytes: Self.clientFrame(opcode: 0x9, fin: false, payload: [])))
        #expect(throws: NIOWebSocketError.fragmentedControlFrame) { try fragmented.next() }

        var long = FrameParser(maxFrameSize: 1024)
        long.append(ByteBuffer(bytes: Self.clientFrame(opcode: 0xA, payload: Array(repeating: 7, count: 126))))
        #expect(throws: NIOWebSocketError.multiByteControlFrameLength) { try long.next() }
    }

    @Test func anIncompleteFrameWaitsAndIsKept() throws {
        let frame = Self.clientFrame(opcode: 0x1, payload: Array("hello".utf8))
        var parser = FrameParser(maxFrameSize: 1024)
        parser.append(ByteBuffer(bytes: Array(frame.prefix(4))))
        #expect(try parser.next() == nil)
        #expect(parser.hasPartialFrame)
        parser.append(ByteBuffer(bytes: Array(frame.dropFirst(4))))
        #expect(try parser.next().map(Self.unmasked) == Array("hello".utf8))
        #expect(!parser.hasPartialFrame)
    }
}
