import Foundation
import NIOCore
import NIOPosix
import Testing
import TsunaguCore
import TsunaguNode

/// Issue item "slow clients hold resources forever": a node closes a connection that does not
/// deliver its request in time or idles between requests, and caps its connections in total
/// and per client address, refusing the excess with 503 (docs/security.md, "Slow and greedy
/// clients").
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SlowClientTests {
    /// With the defaults (10 s for a request), a connection that says nothing is closed in time.
    @Test func anIdleTCPConnectionToANodeIsClosedWithin15Seconds() async throws {
        try await withLiveNode { live in
            let started = ContinuousClock.now
            let received = try await RawConnection.readUntilClosed(port: live.port, sending: [])
            let elapsed = ContinuousClock.now - started
            #expect(received.isEmpty)
            #expect(elapsed < .seconds(15), "closed after \(elapsed)")
            #expect(elapsed > .seconds(8), "closed after \(elapsed), before the 10 s deadline")
        }
    }

    /// A request head sent a byte every 300 ms never completes: closed at the request deadline
    /// (2 s here), although bytes keep arriving.
    @Test func aTricklingRequestHeadIsClosed() async throws {
        try await withLiveNode({ $0.requestTimeout = .seconds(2) }) { live in
            let head = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 100)
            let started = ContinuousClock.now
            let received = try await RawConnection.readUntilClosed(port: live.port, sending: head.map { [$0] },
                                                                   every: .milliseconds(300))
            let elapsed = ContinuousClock.now - started
            #expect(received.isEmpty, "no answer to an unfinished head")
            #expect(elapsed < .seconds(5), "closed after \(elapsed)")
        }
    }

    /// A keep-alive connection is answered, then closed after the idle timeout (1 s here).
    @Test func anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withLiveNode({ $0.idleTimeout = .seconds(1) }) { live in
            let started = ContinuousClock.now
            let received = try await RawConnection.readUntilClosed(
                port: live.port, sending: [Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)])
            let elapsed = ContinuousClock.now - started
            #expect(String(decoding: received, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
            #expect(elapsed < .seconds(4), "closed after \(elapsed)")
        }
    }

    /// Three connections per source: a fourth from the same address gets 503 with Retry-After
    /// before it sends anything, another address is served, and once one of the three closes the
    /// first address is served again. The total cap (5) refuses a sixth from anywhere. Loopback
    /// is not a trusted proxy here, so each connection counts under its socket address at accept
    /// (behind a trusted proxy it counts under the address its PROXY header names).
    @Test func theConnectionCapsRefuseTheExcessAndServeAgainAfter() async throws {
        try await withLiveNode({
            $0.maxConnections = 5
            $0.maxConnectionsPerSource = 3
            $0.trustedProxies = []
        }) { live in
            var held: [RawConnection] = []
            for _ in 0..<3 { held.append(try await RawConnection.open(port: live.port, from: "127.0.0.1")) }
            let refused = try await RawConnection.readUntilClosed(port: live.port, from: "127.0.0.1", sending: [])
            let answer = String(decoding: refused, as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 503"))
            #expect(answer.contains("Retry-After: "))
            // Another address is under its own cap.
            #expect(try await Self.health(live.port, from: "127.0.0.2") == 200)
            held.append(try await RawConnection.open(port: live.port, from: "127.0.0.3"))
            held.append(try await RawConnection.open(port: live.port, from: "127.0.0.4"))
            // Five open: the total cap refuses a sixth, whatever its address.
            let full = try await RawConnection.readUntilClosed(port: live.port, from: "127.0.0.5", sending: [])
            #expect(String(decoding: full, as: UTF8.self).hasPrefix("HTTP/1.1 503"))
            // One of 127.0.0.1's connections ends: it is served again.
            try await held.removeFirst().close()
            var status = 0
            for _ in 0..<50 where status != 200 {
                status = try await Self.health(live.port, from: "127.0.0.1")
                if status != 200 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(status == 200)
            for connection in held { try await connection.close() }
        }
    }

    /// Behind a trusted proxy (loopback, the default) the cap counts the client its PROXY header
    /// names, not the proxy: two clients' connections from one proxy address are capped apart.
    @Test func behindATrustedProxyTheCapCountsTheRealClient() async throws {
        try await withLiveNode({ $0.maxConnectionsPerSource = 2 }) { live in
            func header(_ last: UInt8) -> [UInt8] {
                ProxyHeader(command: .proxy, source: ProxyHeader.Address(bytes: [198, 51, 100, last], port: 40_000),
                            destination: ProxyHeader.Address(bytes: [127, 0, 0, 1], port: 443)).encoded()
            }
            var held: [RawConnection] = []
            for _ in 0..<2 {
                let connection = try await RawConnection.open(port: live.port)
                try await connection.channel.outbound.write(ByteBuffer(bytes: header(7)))
                held.append(connection)
            }
            try await Task.sleep(for: .milliseconds(100))
            let refused = try await RawConnection.readUntilClosed(port: live.port, sending: [header(7)])
            #expect(String(decoding: refused, as: UTF8.self).hasPrefix("HTTP/1.1 503"))
            let other = try await RawConnection.readUntilClosed(
                port: live.port,
                sending: [header(8) + Array("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)])
            #expect(RawHTTP.Reply(raw: other).status == 200)
            for connection in held { try? await connection.close() }
        }
    }

    private static func health(_ port: Int, from source: String) async throws -> Int {
        let reply = try await RawConnection.readUntilClosed(
            port: port, from: source, sending: [Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)])
        return RawHTTP.Reply(raw: reply).status
    }
}

/// A plain TCP connection for the tests of deadlines and caps. Its writer is finished when it is
/// dropped, also when a test fails half-way (NIO traps on a writer dropped unfinished).
final class RawConnection: Sendable {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.channel = channel
    }

    deinit {
        channel.outbound.finish()
        channel.channel.close(promise: nil)
    }

    static func open(port: Int, from local: String? = nil) async throws -> RawConnection {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let local { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: local, port: 0)) }
        let channel = try await bootstrap.connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        // Accepted and counted by the node once the connect completes; give its loop a moment.
        try await Task.sleep(for: .milliseconds(50))
        return RawConnection(channel: channel)
    }

    func close() async throws {
        channel.outbound.finish()
        try await channel.channel.close()
    }

    /// Connects, writes the chunks `every` apart (stopping when the node closes), and reads until
    /// the node closes; returns what it answered.
    static func readUntilClosed(port: Int, from local: String? = nil, sending chunks: [[UInt8]],
                                every interval: Duration = .milliseconds(0)) async throws -> [UInt8] {
        let connection = try await open(port: port, from: local)
        return try await connection.channel.executeThenClose { inbound, outbound in
            let writer = Task {
                for chunk in chunks {
                    do {
                        try await outbound.write(ByteBuffer(bytes: chunk))
                    } catch {
                        return
                    }
                    if interval > .zero { try? await Task.sleep(for: interval) }
                }
            }
            defer { writer.cancel() }
            var received: [UInt8] = []
            do {
                for try await buffer in inbound { received += buffer.readableBytesView }
            } catch {
                // a reset after the node closed: what arrived is the answer
            }
            return received
        }
    }
}
