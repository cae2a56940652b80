import NIOCore
import NIOPosix
import Testing

@testable import TsunaguWebSocket

/// `WebSocketClient` against this module's own server: both roles on the same stack.
@Suite("Live client against the server", .serialized)
struct LiveClientTests {
    /// Connects to the echo server and collects what arrives.
    private final class Echoes: Sendable {
        let texts = AsyncStream<String>.makeStream()
        let closes = AsyncStream<UInt16?>.makeStream()
    }

    private func connect(_ server: TestServer, compression: Bool, echoes: Echoes) async throws -> WebSocketClient {
        try await WebSocketClient.connect(
            host: "127.0.0.1", port: server.port,
            configuration: .init(path: "/v1/ws", offerCompression: compression),
            group: MultiThreadedEventLoopGroup.singleton,
            onText: { echoes.texts.continuation.yield(String(buffer: $0)) },
            onClose: { code, _ in
                echoes.closes.continuation.yield(code)
                echoes.closes.continuation.finish()
            }
        ).get()
    }

    @Test(arguments: [false, true])
    func echoesAndClosesCleanly(compression: Bool) async throws {
        let server = try await TestServer.echo(compression: true)
        defer { Task { try await server.shutdown() } }
        let echoes = Echoes()
        let client = try await self.connect(server, compression: compression, echoes: echoes)
        #expect(client.isCompressed == compression)
        let messages = ["{\"hello\":\"κόσμε\"}", String(repeating: "fan-out ", count: 2000), ""]
        for message in messages { client.send(message) }
        var received: [String] = []
        for await text in echoes.texts.stream {
            received.append(text)
            if received.count == messages.count { break }
        }
        #expect(received == messages)
        client.close()
        var codes: [UInt16?] = []
        for await code in echoes.closes.stream { codes.append(code) }
        #expect(codes == [1000])
        #expect(!client.isOpen)
    }

    @Test func aServerWithoutCompressionDeclinesTheOffer() async throws {
        let server = try await TestServer.echo(compression: false)
        defer { Task { try await server.shutdown() } }
        let echoes = Echoes()
        let client = try await self.connect(server, compression: true, echoes: echoes)
        #expect(!client.isCompressed)
        client.send("plain")
        for await text in echoes.texts.stream {
            #expect(text == "plain")
            break
        }
        client.close()
    }

    @Test func aRefusedUpgradeReportsTheStatus() async throws {
        let server = try await TestServer.echo()
        defer { Task { try await server.shutdown() } }
        await #expect(throws: WebSocketClientError.handshakeFailed(status: 404)) {
            _ = try await WebSocketClient.connect(
                host: "127.0.0.1", port: server.port, configuration: .init(path: "/nope"),
                group: MultiThreadedEventLoopGroup.singleton, onText: { _ in }, onClose: { _, _ in }
            ).get()
        }
    }

    @Test func theOverflowCloseCodeIsTheLimitsSetting() async throws {
        // WebSocketEchoDelegate closes with the limits' overflow code when a send overflows.
        var limits = WebSocketLimits(overflowCloseCode: 4321, overflowCloseReason: "too slow")
        limits.outboundHighWaterMark = 64
        let server = try await TestServer.echo(limits: limits, compression: false)
        defer { Task { try await server.shutdown() } }
        let echoes = Echoes()
        let client = try await self.connect(server, compression: false, echoes: echoes)
        // Many messages in one write reach the server in one read: the first echo fills the
        // outbound buffer past its 64-byte mark, the next one overflows.
        let message = ByteBuffer(string: String(repeating: "x", count: 1000))
        client.eventLoop.execute {
            for _ in 0..<50 { client.send(message, flush: false) }
            client.flush()
        }
        var codes: [UInt16?] = []
        for await code in echoes.closes.stream { codes.append(code) }
        #expect(codes == [4321])
    }
}
