import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Testing

@testable import TsunaguWebSocket

/// End-to-end checks against a real NIO server, spoken to over raw TCP.
@Suite("Live server over raw TCP", .serialized)
struct LiveServerTests {
    @Test func echoesTextAndAnswersWithoutExtensionsWhenNoneOffered() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        let response = try client.handshake()
        #expect(response.status == 101)
        #expect(response.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")  // RFC 6455 §1.3
        #expect(response.headers["sec-websocket-extensions"] == nil)
        try client.sendText("{\"hello\":\"κόσμε\"}")
        let frame = try client.readFrame()
        #expect(frame == .init(fin: true, rsv1: false, opcode: 0x1, payload: Array("{\"hello\":\"κόσμε\"}".utf8)))
    }

    @Test func fragmentedTextIsReassembled() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        try client.handshake()
        try client.send(opcode: 0x1, Array("{\"a\":".utf8), fin: false)
        try client.send(opcode: 0x9, Array("in-between".utf8))
        try client.send(opcode: 0x0, Array("1}".utf8))
        #expect(try client.readFrame() == .init(fin: true, rsv1: false, opcode: 0xA, payload: Array("in-between".utf8)))
        #expect(try client.readFrame().text == "{\"a\":1}")
    }

    @Test func unknownPathIsNotUpgraded() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        #expect(try client.handshake(path: "/nope").status == 404)
    }

    @Test func oversizedMessageIsClosedWith1009() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        // One frame above the limit (caught by NIO's frame decoder) …
        let single = try RawWebSocketClient(port: server.port)
        try single.handshake()
        try single.sendText(String(repeating: "a", count: 70_000))
        #expect(try single.readFrame().closeCode == 1009)
        // … and a message that only grows too large across fragments (caught by the assembler).
        let fragmented = try RawWebSocketClient(port: server.port)
        try fragmented.handshake()
        try fragmented.send(opcode: 0x1, Array(repeating: 0x61, count: 40_000), fin: false)
        try fragmented.send(opcode: 0x0, Array(repeating: 0x61, count: 40_000))
        let close = try fragmented.readFrame()
        #expect(close.closeCode == 1009)
        // We answer the server's Close; it then drops the TCP connection (§7.1.1).
        try fragmented.sendClose(1009)
        #expect(fragmented.waitForEOF())
    }

    @Test func binaryOnTheTextEndpointIsClosedWith1003() async throws {
        var limits = WebSocketLimits()
        limits.allowsBinary = false
        let server = try await TestServer.echo(limits: limits)
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        try client.handshake()
        try client.send(opcode: 0x2, [1, 2, 3])
        #expect(try client.readFrame().closeCode == 1003)
    }

    @Test func binaryIsEchoedWhenAllowed() async throws {
        var limits = WebSocketLimits()
        limits.allowsBinary = true
        let server = try await TestServer.echo(limits: limits)
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        try client.handshake(path: "/v1/echo")
        try client.send(opcode: 0x2, [0, 0xFF, 0x80])
        #expect(try client.readFrame() == .init(fin: true, rsv1: false, opcode: 0x2, payload: [0, 0xFF, 0x80]))
    }

    @Test func invalidUTF8IsClosedWith1007() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        try client.handshake()
        try client.send(opcode: 0x1, [0xCE, 0xBA, 0xED, 0xA0, 0x80])
        #expect(try client.readFrame().closeCode == 1007)
    }

    @Test func compressedEchoWithPermessageDeflate() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        let response = try client.handshake(extensions: "permessage-deflate; client_max_window_bits")
        #expect(response.status == 101)
        #expect(response.headers["sec-websocket-extensions"] == "permessage-deflate; server_no_context_takeover")

        // RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello", then "Hello" again through the shared window.
        try client.send(opcode: 0x1, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], rsv1: true)
        try client.send(opcode: 0x1, [0xF2, 0x00, 0x11, 0x00, 0x00], rsv1: true)
        for _ in 0..<2 {
            // Echoed with a reset context: the §7.2.3.1 bytes both times (server_no_context_takeover).
            #expect(try client.readFrame() == .init(fin: true, rsv1: true, opcode: 0x1, payload: [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]))
        }

        // A message that compresses is echoed compressed, inflatable with a fresh context.
        let json = "{\"items\":[" + (0..<200).map { "{\"id\":\($0),\"name\":\"item\"}" }.joined(separator: ",") + "]}"
        let deflater = MessageDeflater(noContextTakeover: false)
        let compressed = deflater.compress(ByteBuffer(string: json), allocator: ByteBufferAllocator())
        // Fragmented: RSV1 on the first frame only.
        let bytes = Array(compressed.readableBytesView)
        try client.send(opcode: 0x1, Array(bytes.prefix(10)), fin: false, rsv1: true)
        try client.send(opcode: 0x0, Array(bytes.dropFirst(10)))
        let echo = try client.readFrame()
        #expect(echo.rsv1 && echo.opcode == 0x1)
        let inflater = MessageInflater(noContextTakeover: true, maxOutput: 1 << 20)
        let inflated = try inflater.decompress(ByteBuffer(bytes: echo.payload), allocator: ByteBufferAllocator())
        #expect(String(buffer: inflated) == json)
    }

    @Test func compressionIsNotNegotiatedWhenDisabled() async throws {
        let server = try await TestServer.echo(compression: false)
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        #expect(try client.handshake(extensions: "permessage-deflate").headers["sec-websocket-extensions"] == nil)
        // RSV1 now has no meaning: protocol error.
        try client.send(opcode: 0x1, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], rsv1: true)
        #expect(try client.readFrame().closeCode == 1002)
    }

    @Test func compressedInflateBombIsClosedWith1009() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        try client.handshake(extensions: "permessage-deflate")
        let bomb = MessageDeflater(noContextTakeover: true).compress(ByteBuffer(repeating: 0x20, count: 4 << 20), allocator: ByteBufferAllocator())
        try client.send(opcode: 0x1, Array(bomb.readableBytesView), rsv1: true)
        #expect(try client.readFrame().closeCode == 1009)
    }

    @Test func pingIsAnsweredWithPongCarryingThePayload() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        try client.handshake()
        try client.send(opcode: 0x9, Array("are you there?".utf8))
        #expect(try client.readFrame() == .init(fin: true, rsv1: false, opcode: 0xA, payload: Array("are you there?".utf8)))
    }

    @Test func closeIsEchoedAndTheServerDropsTCP() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        let client = try RawWebSocketClient(port: server.port)
        try client.handshake()
        try client.sendClose(4000, reason: "bye")
        #expect(try client.readFrame().closeCode == 4000)
        #expect(client.waitForEOF())

        let invalid = try RawWebSocketClient(port: server.port)
        try invalid.handshake()
        try invalid.sendClose(1005)
        #expect(try invalid.readFrame().closeCode == 1002)
    }
}

/// Records every opened connection (for fan-out from the test).
final class Recorder: WebSocketMessageDelegate {
    let connections: NIOLockedValueBox<[WebSocketConnection]>
    init(_ connections: NIOLockedValueBox<[WebSocketConnection]>) { self.connections = connections }
    func webSocketDidOpen(_ connection: WebSocketConnection) { self.connections.withLockedValue { $0.append(connection) } }
    func webSocket(_ connection: WebSocketConnection, didReceiveText text: String) {}
}
