import NIOCore
import NIOWebSocket
import Testing

@testable import TsunaguWebSocket

@Suite("Message assembly rules (RFC 6455 §5, §7.4, §8.1; RFC 7692 §6)")
struct MessageAssemblerTests {
    static func assembler(binary: Bool = false, compression: Bool = false, max: Int = 1024) -> MessageAssembler {
        MessageAssembler(
            configuration: .init(
                maxMessageBytes: max,
                maxCompressedMessageBytes: max + 64,
                allowsBinary: binary,
                compressionNegotiated: compression
            )
        )
    }

    static func frame(
        _ opcode: UInt8,
        _ payload: [UInt8] = [],
        fin: Bool = true,
        rsv1: Bool = false,
        rsv2: Bool = false,
        rsv3: Bool = false
    ) -> WebSocketFrame {
        WebSocketFrame(
            fin: fin,
            rsv1: rsv1,
            rsv2: rsv2,
            rsv3: rsv3,
            opcode: WebSocketOpcode(encodedWebSocketOpcode: opcode)!,
            data: ByteBuffer(bytes: payload)
        )
    }

    static func text(_ string: String, fin: Bool = true) -> WebSocketFrame { frame(0x1, Array(string.utf8), fin: fin) }
    static func more(_ bytes: [UInt8], fin: Bool = true) -> WebSocketFrame { frame(0x0, bytes, fin: fin) }

    static func close(_ code: UInt16, _ reason: [UInt8] = []) -> WebSocketFrame {
        frame(0x8, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }

    static func failureCode(_ action: AssemblerAction) -> WebSocketErrorCode? {
        if case .fail(let code, _) = action { return code }
        return nil
    }

    static func delivered(_ action: AssemblerAction) -> AssembledMessage? {
        if case .deliver(let message) = action { return message }
        return nil
    }

    @Test func singleTextFrameIsDelivered() throws {
        var assembler = Self.assembler()
        let message = try #require(Self.delivered(assembler.receive(Self.text("hi"))))
        #expect(message == AssembledMessage(kind: .text, compressed: false, payload: ByteBuffer(string: "hi")))
    }

    @Test func fragmentsAreJoinedAndControlFramesMayBeInterleaved() throws {
        var assembler = Self.assembler()
        #expect(assembler.receive(Self.text("Hel", fin: false)) == .none)
        #expect(assembler.receive(Self.frame(0x9, [1, 2])) == .ping(ByteBuffer(bytes: [1, 2])))
        #expect(assembler.receive(Self.more(Array("lo".utf8), fin: false)) == .none)
        #expect(assembler.receive(Self.frame(0xA, [3])) == .pong(ByteBuffer(bytes: [3])))
        let message = try #require(Self.delivered(assembler.receive(Self.more(Array(", world".utf8)))))
        #expect(message.payload == ByteBuffer(string: "Hello, world"))
        // Back to idle: a new message may start.
        #expect(Self.delivered(assembler.receive(Self.text("next"))) != nil)
    }

    @Test func continuationWithoutStartIsAProtocolError() {
        var assembler = Self.assembler()
        #expect(Self.failureCode(assembler.receive(Self.more(Array("x".utf8)))) == .protocolError)
    }

    @Test func newStartInsideAFragmentedMessageIsAProtocolError() {
        var assembler = Self.assembler(binary: true)
        _ = assembler.receive(Self.text("a", fin: false))
        #expect(Self.failureCode(assembler.receive(Self.text("b"))) == .protocolError)
        var binary = Self.assembler(binary: true)
        _ = binary.receive(Self.text("a", fin: false))
        #expect(Self.failureCode(binary.receive(Self.frame(0x2, [1]))) == .protocolError)
    }

    @Test(arguments: [UInt8(3), 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
    func reservedOpcodesAreProtocolErrors(opcode: UInt8) {
        var assembler = Self.assembler()
        #expect(Self.failureCode(assembler.receive(Self.frame(opcode, [1]))) == .protocolError)
    }

    @Test func reservedBitsWithoutANegotiatedExtensionAreProtocolErrors() {
        var plain = Self.assembler()
        #expect(Self.failureCode(plain.receive(Self.frame(0x1, [0x41], rsv1: true))) == .protocolError)
        for (rsv2, rsv3) in [(true, false), (false, true)] {
            var compressed = Self.assembler(compression: true)
            #expect(Self.failureCode(compressed.receive(Self.frame(0x1, [0x41], rsv2: rsv2, rsv3: rsv3))) == .protocolError)
        }
    }

    @Test func rsv1MarksTheFirstFrameOfACompressedMessageOnly() throws {
        var assembler = Self.assembler(compression: true)
        #expect(assembler.receive(Self.frame(0x1, [0xF2, 0x48], fin: false, rsv1: true)) == .none)
        let message = try #require(Self.delivered(assembler.receive(Self.more([0xCD, 0xC9, 0xC9, 0x07, 0x00]))))
        #expect(message.compressed)
        #expect(message.payload == ByteBuffer(bytes: [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]))

        var continuation = Self.assembler(compression: true)
        _ = continuation.receive(Self.frame(0x1, [0xF2], fin: false, rsv1: true))
        #expect(Self.failureCode(continuation.receive(Self.frame(0x0, [0x48], rsv1: true))) == .protocolError)

        var control = Self.assembler(compression: true)
        #expect(Self.failureCode(control.receive(Self.frame(0x9, [], rsv1: true))) == .protocolError)
    }

    @Test func fragmentedOrOversizedControlFramesAreProtocolErrors() {
        var fragmented = Self.assembler()
        #expect(Self.failureCode(fragmented.receive(Self.frame(0x9, [1], fin: false))) == .protocolError)
        var oversized = Self.assembler()
        #expect(Self.failureCode(oversized.receive(Self.frame(0x9, Array(repeating: 0, count: 126)))) == .protocolError)
        var atLimit = Self.assembler()
        #expect(atLimit.receive(Self.frame(0xA, Array(repeating: 0, count: 125))) != .none)
    }

    @Test func binaryIsRefusedWith1003UnlessAllowed() throws {
        var textOnly = Self.assembler()
        #expect(Self.failureCode(textOnly.receive(Self.frame(0x2, [0xFF]))) == .unacceptableData)
        var echo = Self.assembler(binary: true)
        let message = try #require(Self.delivered(echo.receive(Self.frame(0x2, [0xFF]))))
        #expect(message.kind == .binary)
    }

    @Test func oversizedMessagesFailWith1009() {
        var single = Self.assembler(max: 10)
        #expect(Self.failureCode(single.receive(Self.text(String(repeating: "a", count: 11)))) == .messageTooLarge)
        var exact = Self.assembler(max: 10)
        #expect(Self.delivered(exact.receive(Self.text(String(repeating: "a", count: 10)))) != nil)
        var fragmented = Self.assembler(max: 10)
        #expect(fragmented.receive(Self.text("123456", fin: false)) == .none)
        #expect(Self.failureCode(fragmented.receive(Self.more(Array("12345".utf8)))) == .messageTooLarge)
    }

    @Test func invalidUTF8FailsWith1007AsSoonAsItIsSeen() {
        var single = Self.assembler()
        #expect(Self.failureCode(single.receive(Self.frame(0x1, [0xCE, 0xBA, 0xED, 0xA0, 0x80]))) == .dataInconsistentWithMessage)
        // Fail fast: the second fragment (an out-of-range 0xF4 0x90 …) fails before the message ends.
        var fragmented = Self.assembler()
        #expect(fragmented.receive(Self.text("κόσμε", fin: false)) == .none)
        #expect(Self.failureCode(fragmented.receive(Self.more([0xF4, 0x90, 0x80, 0x80], fin: false))) == .dataInconsistentWithMessage)
    }

    @Test func codePointsMaySpanFragmentsButMayNotEndTheMessage() throws {
        var split = Self.assembler()
        #expect(split.receive(Self.frame(0x1, [0xE2, 0x82], fin: false)) == .none)
        let message = try #require(Self.delivered(split.receive(Self.more([0xAC]))))
        #expect(String(buffer: message.payload) == "€")
        var truncated = Self.assembler()
        #expect(Self.failureCode(truncated.receive(Self.frame(0x1, [0x61, 0xE2, 0x82]))) == .dataInconsistentWithMessage)
    }

    @Test func emptyCloseIsAValidCloseWithoutCode() {
        var assembler = Self.assembler()
        #expect(assembler.receive(Self.frame(0x8)) == .peerClosed(code: nil, reason: ""))
    }

    @Test func oneByteCloseBodyIsAProtocolError() {
        var assembler = Self.assembler()
        #expect(Self.failureCode(assembler.receive(Self.frame(0x8, [0x03]))) == .protocolError)
    }

    @Test(arguments: [UInt16(1000), 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4008, 4999])
    func validCloseCodesAreAccepted(code: UInt16) {
        var assembler = Self.assembler()
        #expect(assembler.receive(Self.close(code, Array("bye".utf8))) == .peerClosed(code: code, reason: "bye"))
    }

    @Test(arguments: [UInt16(0), 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65_535])
    func invalidCloseCodesAreProtocolErrors(code: UInt16) {
        var assembler = Self.assembler()
        #expect(Self.failureCode(assembler.receive(Self.close(code))) == .protocolError)
    }

    @Test func closeReasonMustBeUTF8() {
        var assembler = Self.assembler()
        #expect(Self.failureCode(assembler.receive(Self.close(1000, [0xCE, 0xBA, 0xED, 0xA0, 0x80]))) == .dataInconsistentWithMessage)
    }

    @Test func framesAfterCloseOrFailureAreIgnored() {
        var closed = Self.assembler()
        _ = closed.receive(Self.close(1000))
        #expect(closed.receive(Self.text("late")) == .none)
        #expect(closed.receive(Self.frame(0x9)) == .none)
        var failed = Self.assembler()
        _ = failed.receive(Self.frame(0x3))
        #expect(failed.receive(Self.text("late")) == .none)
    }
}
