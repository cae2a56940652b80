import Foundation
import NIOCore
import NIOPosix
import Testing
import TsunaguBalancer
import TsunaguCore

/// Issue items "slow clients" (the balancer's per-source cap) and "/metrics on a separate
/// listener" (the balancer's admin listener): docs/balancer.md, "Limits" and "Admin listener".
// Three minutes: alone each test takes seconds, but at the start of a full run, with every suite
// starting on two cores, spreading 300 connections took 67–71 s.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BalancerLimitsTests {
    private func withBalancer(_ backend: TestBackend, configure: (inout BalancerConfiguration) -> Void = { _ in },
                              _ body: (BalancerServer, Int) async throws -> Void) async throws {
        var configuration = BalancerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopThreads = 2
        configure(&configuration)
        let server = BalancerServer(configuration: configuration, directory: InMemoryBackendDirectory([backend.backend]))
        let port = try await server.start()
        do {
            try await body(server, port)
        } catch {
            try? await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    /// Two connections per source: a third from the same address is closed at accept and never
    /// reaches a backend; another address is spliced; the first is served again once one closes.
    @Test func thePerSourceCapClosesTheExcessAtAcceptAndServesAgainAfter() async throws {
        let backend = try await TestBackend.start(id: "a")
        try await self.withBalancer(backend, configure: { $0.maxConnectionsPerSource = 2 }) { server, port in
            let first = try await BoundClient.spliced(port: port, from: "127.0.0.1")
            let second = try await BoundClient.spliced(port: port, from: "127.0.0.1")
            #expect(try await first.readLine() == "a")
            #expect(try await second.readLine() == "a")
            let third = try await BoundClient.spliced(port: port, from: "127.0.0.1")
            #expect(try await third.readLine() == nil, "closed without a backend")
            let other = try await BoundClient.spliced(port: port, from: "127.0.0.2")
            #expect(try await other.readLine() == "a")
            #expect(backend.clientConnections == 3)
            #expect(server.statistics.refusedPerSource == 1)
            try await first.close()
            var served: String?
            for _ in 0..<40 where served == nil {
                let again = try await BoundClient.spliced(port: port, from: "127.0.0.1")
                served = try await again.readLine()
                if served == nil { try await Task.sleep(for: .milliseconds(50)) } else { try await again.close() }
            }
            #expect(served == "a")
            for client in [second, third, other] { try? await client.close() }
        }
    }

    /// A node that does not accept (its accept queue full): connections pile up waiting for its
    /// connect. With room for two, a third is closed at once instead of waiting too.
    @Test func connectionsWaitingForABackendAreBounded() async throws {
        let busy = try await FullAcceptQueue()
        let backend = Backend(id: "busy", host: "127.0.0.1", port: busy.port)
        var configuration = BalancerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopThreads = 2
        configuration.maxWaiting = 2
        configuration.healthTimeout = .milliseconds(300)
        configuration.connectTimeout = .milliseconds(300)
        configuration.busyConnectTimeout = .seconds(2)
        let server = BalancerServer(configuration: configuration, directory: InMemoryBackendDirectory([backend]))
        let port = try await server.start()
        do {
            let first = try await BoundClient.connect(port: port, from: "127.0.0.1")
            let second = try await BoundClient.connect(port: port, from: "127.0.0.2")
            try await Task.sleep(for: .milliseconds(100))
            #expect(server.statistics.refusedWaiting == 0)
            let started = ContinuousClock.now
            let third = try await BoundClient.connect(port: port, from: "127.0.0.3")
            #expect(try await third.readLine() == nil)
            #expect(ContinuousClock.now - started < .seconds(1), "closed at once, not after the connect attempts")
            #expect(server.statistics.refusedWaiting == 1)
            for client in [first, second, third] { try await client.close() }
        } catch {
            try? await server.shutdown()
            await busy.close()
            throw error
        }
        try await server.shutdown()
        await busy.close()
    }

    /// `/metrics`, `/healthz` and `/readyz` on the admin listener, with per-backend connections,
    /// bytes and failures; the client port splices and never answers them itself.
    @Test func theAdminListenerAnswersMetricsHealthAndReadiness() async throws {
        let backend = try await TestBackend.start(id: "n_a")
        try await self.withBalancer(backend) { server, port in
            let admin = try #require(server.adminPort)
            #expect(admin != port)
            let client = try await BoundClient.spliced(port: port, from: "127.0.0.1")
            #expect(try await client.readLine() == "n_a")
            #expect(try await client.readLine() == "hello")
            let metrics = try await BoundClient.get("/metrics", port: admin)
            #expect(metrics.hasPrefix("HTTP/1.1 200"))
            #expect(metrics.contains(#"tsunagu_balancer_backend_connections{backend="n_a"} 1"#))
            #expect(metrics.contains(#"tsunagu_balancer_backend_connections_total{backend="n_a"} 1"#))
            #expect(metrics.contains(#"tsunagu_balancer_backend_bytes_total{backend="n_a",direction="to_backend"} "#))
            #expect(metrics.contains(#"tsunagu_balancer_backend_connect_failures_total{backend="n_a"} 0"#))
            #expect(metrics.contains("tsunagu_balancer_connections_accepted_total 1"))
            #expect(try await BoundClient.get("/healthz", port: admin).hasPrefix("HTTP/1.1 200"))
            #expect(try await BoundClient.get("/readyz", port: admin).hasPrefix("HTTP/1.1 200"))
            #expect(try await BoundClient.get("/nothing", port: admin).hasPrefix("HTTP/1.1 404"))
            try await client.close()
            // The client port: whatever is sent goes to the backend (here its id line and echo).
            let spliced = try await BoundClient.connect(port: port, from: "127.0.0.1")
            try await spliced.send("GET /metrics HTTP/1.1\r\n")
            #expect(try await spliced.readLine() == "n_a")
            #expect(try await spliced.readLine() == "GET /metrics HTTP/1.1\r", "echoed by the backend")
            try await spliced.close()
        }
    }
}

/// A client connection from a chosen loopback address, read line by line.
final class BoundClient: @unchecked Sendable {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var pending = ByteBuffer()

    private init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.channel = channel
        self.iterator = channel.inbound.makeAsyncIterator()
    }

    /// Connects and says hello (the test backend answers its id only once a client speaks).
    static func spliced(port: Int, from local: String) async throws -> BoundClient {
        let client = try await connect(port: port, from: local)
        try? await client.send("hello\n")
        return client
    }

    static func connect(port: Int, from local: String) async throws -> BoundClient {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: local, port: 0))
            .connectTimeout(.seconds(2))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return BoundClient(channel: channel)
    }

    func send(_ text: String) async throws {
        try await channel.outbound.write(ByteBuffer(string: text))
    }

    /// The next line without its newline; nil once the peer has closed (or reset) first.
    func readLine() async throws -> String? {
        while true {
            if let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending.readString(length: newline - pending.readerIndex)!
                pending.moveReaderIndex(forwardBy: 1)
                return line
            }
            let next: ByteBuffer?
            do {
                next = try await iterator.next()
            } catch {
                return nil
            }
            guard var more = next else { return nil }
            pending.writeBuffer(&more)
        }
    }

    func close() async throws {
        channel.outbound.finish()
        try? await channel.channel.close()
    }

    deinit {
        channel.outbound.finish()
        channel.channel.close(promise: nil)
    }

    /// One HTTP GET on a fresh connection; the whole answer as text.
    static func get(_ path: String, port: Int) async throws -> String {
        let client = try await connect(port: port, from: "127.0.0.1")
        try await client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        var text = ""
        while let line = try await client.readLine() { text += line + "\n" }
        try? await client.close()
        return text
    }
}
