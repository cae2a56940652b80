import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Testing

@testable import TsunaguWebSocket

/// The node-facing behaviour over a live server: keep-alive pings, encode-once fan-out and
/// slow-consumer overflow.
@Suite("Live keep-alive and fan-out", .serialized)
struct LiveKeepAliveAndFanOutTests {
    @Test func idleConnectionIsPingedAndDroppedWithoutPong() async throws {
        var limits = WebSocketLimits()
        limits.pingInterval = .milliseconds(200)
        limits.pongTimeout = .milliseconds(300)
        let server = try await TestServer.echo(limits: limits)
        defer { Task { try await server.shutdown() } }

        let silent = try RawWebSocketClient(port: server.port)
        try silent.handshake()
        #expect(try silent.readFrame().opcode == 0x9)
        #expect(try silent.readFrame().closeCode == 1001)
        #expect(silent.waitForEOF())

        // A client that answers stays connected across several ping intervals.
        let alive = try RawWebSocketClient(port: server.port)
        try alive.handshake()
        for _ in 0..<3 {
            let ping = try alive.readFrame()
            #expect(ping.opcode == 0x9)
            try alive.send(opcode: 0xA, ping.payload)
        }
        try alive.sendText("still here")
        var frame = try alive.readFrame()
        while frame.opcode == 0x9 { frame = try alive.readFrame() }
        #expect(frame.text == "still here")
    }

    @Test func sharedFrameFansOutTheSameBytesAndSlowConsumersOverflow() async throws {
        let connections = NIOLockedValueBox<[WebSocketConnection]>([])
        var limits = WebSocketLimits(overflowCloseCode: 4008, overflowCloseReason: "slow consumer: reconnect and resume with since")
        limits.outboundHighWaterMark = 8 * 1024
        let server = try await TestServer(limits: limits, compression: true) { _ in
            { Recorder(connections) }
        }
        defer { Task { try await server.shutdown() } }
        let plain = try RawWebSocketClient(port: server.port)
        try plain.handshake()
        let deflating = try RawWebSocketClient(port: server.port)
        try deflating.handshake(extensions: "permessage-deflate")
        while connections.withLockedValue({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(10)) }

        let json = "{\"event\":\"" + String(repeating: "fan-out ", count: 100) + "\"}"
        let frame = SharedFrame(text: json)
        for connection in connections.withLockedValue({ $0 }) {
            #expect(connection.send(frame) == .enqueued)  // off the event loop: hops
        }
        #expect(try plain.readFrame() == .init(fin: true, rsv1: false, opcode: 0x1, payload: Array(json.utf8)))
        let compressed = try deflating.readFrame()
        #expect(compressed.rsv1)
        let header = OutboundFrame.headerLength(payloadLength: compressed.payload.count)
        #expect(Array(frame.compressedFrame().readableBytesView.dropFirst(header)) == compressed.payload)

        // A burst above the high water mark within one tick overflows; the caller closes with the
        // limits' overflow code (the node sets 4008).
        // The plain client's connection (the two upgrades may complete in either order).
        let connection = try #require(connections.withLockedValue { $0.first { !$0.compressionEnabled } })
        let results = try await connection.eventLoop.submit {
            let big = SharedFrame(text: String(repeating: "x", count: 3000))
            let results = (0..<5).map { _ in connection.send(big) }
            connection.close(code: connection.limits.overflowCloseErrorCode, reason: connection.limits.overflowCloseReason)
            return results
        }.get()
        #expect(results == [.enqueued, .enqueued, .enqueued, .overflow, .overflow])
        var received = try plain.readFrame()
        while received.opcode != 0x8 { received = try plain.readFrame() }
        #expect(received.closeCode == 4008)
        #expect(String(decoding: received.payload.dropFirst(2), as: UTF8.self) == "slow consumer: reconnect and resume with since")
    }
}
