import Foundation
import Synchronization
import NIOCore
import NIOPosix
import Testing
import TsunaguBalancer
import TsunaguCore

/// Live tests: three tiny backends on 127.0.0.1, the balancer in front, real TCP.
/// Serialized: they measure timings of seconds and share two cores.
// Three minutes: alone each test takes seconds, but at the start of a full run, with every suite
// starting on two cores, spreading 300 connections took 67–71 s.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BalancerServerTests {
    /// A running balancer over `backends`, for the duration of `body`.
    private func withBalancer<Result>(
        _ backends: [TestBackend],
        fast: Bool = false,
        configure: (inout BalancerConfiguration) -> Void = { _ in },
        _ body: (BalancerServer, Int, InMemoryBackendDirectory) async throws -> Result
    ) async throws -> Result {
        let directory = InMemoryBackendDirectory(backends.map(\.backend))
        var configuration = BalancerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopThreads = 2
        configure(&configuration)
        let server = BalancerServer(configuration: configuration, directory: directory)
        let port = try await server.start()
        do {
            let result = try await body(server, port, directory)
            try await server.shutdown()
            return result
        } catch {
            try? await server.shutdown()
            throw error
        }
    }

    private func startBackends(_ ids: [String]) async throws -> [TestBackend] {
        var backends: [TestBackend] = []
        for id in ids {
            backends.append(try await TestBackend.start(id: id))
        }
        return backends
    }

    /// Polls `condition` every 50 ms until it holds or `seconds` pass; answers the time taken.
    private func waitUntil(
        seconds: Double,
        _ condition: () async throws -> Bool
    ) async throws -> Duration? {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < .seconds(seconds) {
            if try await condition() { return clock.now - start }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    @Test func spreadsThreeHundredConnectionsEvenly() async throws {
        let backends = try await self.startBackends(["a", "b", "c"])
        try await self.withBalancer(backends) { server, port, _ in
            let ids = try await TestClient.spread(port: port, count: 300)
            let counts = ids.counted()
            #expect(ids.count == 300)
            for id in ["a", "b", "c"] {
                #expect((90...110).contains(counts[id, default: 0]), "\(id) got \(counts[id, default: 0])")
            }
            let statistics = server.statistics
            #expect(statistics.accepted == 300)
            #expect(statistics.picks == counts)
            #expect(statistics.connectFailures == 0)
            #expect(statistics.rejected == 0)
            // Every connection is closed on both sides eventually; how soon depends on how loaded
            // the machine is (a CI run sharing two cores with other suites took over 2 s).
            let settled = try await self.waitUntil(seconds: 15) { server.statistics.active == 0 }
            #expect(settled != nil, "\(server.statistics.active) connections still open")
        }
    }

    @Test func backendConnectionsTakeTheSourceAddressesInTurn() async throws {
        let backends = try await self.startBackends(["a"])
        try await self.withBalancer(backends, configure: { $0.sourceAddresses = ["127.0.0.1", "127.0.0.6"] }) { _, port, _ in
            let ids = try await TestClient.spread(port: port, count: 10)
            #expect(ids.count == 10)
            let sources = backends[0].clientSources
            #expect(sources.count == 10)
            #expect(sources.filter { $0 == "127.0.0.1" }.count == 5)
            #expect(sources.filter { $0 == "127.0.0.6" }.count == 5)
        }
    }

    /// Real client addresses (docs/balancer.md): every backend connection opens with a PROXY v2
    /// header naming the client and the address it connected to; the probes send none.
    @Test func everyBackendConnectionOpensWithAProxyHeaderNamingTheClient() async throws {
        let backends = try await self.startBackends(["a"])
        try await self.withBalancer(backends) { _, port, _ in
            let ids = try await TestClient.spread(port: port, count: 3)
            #expect(ids == ["a", "a", "a"])
            let headers = backends[0].proxyHeaders
            #expect(headers.count == 3)
            for header in headers {
                #expect(header.command == .proxy)
                #expect(header.source?.bytes == [127, 0, 0, 1])
                #expect(header.source?.port ?? 0 > 0)
                #expect(header.destination == ProxyHeader.Address(bytes: [127, 0, 0, 1], port: UInt16(port)))
            }
        }
    }

    @Test func twentyMegabytesEchoIntactBothWays() async throws {
        let backends = try await self.startBackends(["a"])
        let total = 20 * 1024 * 1024
        let chunkSize = 64 * 1024
        func patternByte(_ offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset &* 7 &+ offset >> 13) }

        try await self.withBalancer(backends) { _, port, _ in
            try await TestClient.withConnection(port: port) { conversation in
                let outbound = conversation.outbound
                async let written: Void = {
                    var offset = 0
                    while offset < total {
                        var chunk = ByteBuffer()
                        chunk.reserveCapacity(chunkSize)
                        chunk.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize) { pointer in
                            for index in 0..<chunkSize { pointer[index] = patternByte(offset + index) }
                            return chunkSize
                        }
                        try await outbound.write(chunk)
                        offset += chunkSize
                    }
                    // Half-close: the backend finishes its echo and closes, through the balancer.
                    outbound.finish()
                }()

                #expect(try await conversation.readLine() == "a")
                var offset = 0
                var mismatches = 0
                let received = try await conversation.readToEnd { chunk in
                    chunk.withUnsafeReadableBytes { bytes in
                        for index in 0..<bytes.count where bytes[index] != patternByte(offset + index) {
                            mismatches += 1
                        }
                    }
                    offset += chunk.readableBytes
                }
                try await written
                #expect(received == total)
                #expect(mismatches == 0)
            }
        }
    }

    @Test func closedListenerIsRetriedThenDroppedByItsHealthCheck() async throws {
        let backends = try await self.startBackends(["a", "b", "c"])
        try await self.withBalancer(backends) { server, port, _ in
            try await backends[1].closeListener()
            // Before the health check notices, a pick of b is refused and retried on the next.
            let before = try await TestClient.spread(port: port, count: 30, parallelism: 1)
            #expect(before.count == 30)
            #expect(!before.contains("b"))

            // After one health interval (1 s) plus slack, b is no longer tried at all.
            let dropped = try await self.waitUntil(seconds: 3) {
                !server.readyBackends.map(\.id).contains("b")
            }
            #expect(dropped != nil)
            let failures = server.statistics.connectFailures
            let after = try await TestClient.spread(port: port, count: 30, parallelism: 1)
            #expect(after.counted() == ["a": 15, "c": 15])
            #expect(server.statistics.connectFailures == failures)
        }
    }

    @Test func refusedConnectIsRetriedOnTheNextBackend() async throws {
        let backends = try await self.startBackends(["a", "b", "c"])
        // Checks far apart, so the pool still believes b is ready after it stops listening.
        try await self.withBalancer(backends, configure: { $0.healthInterval = .seconds(60) }) { server, port, _ in
            try await backends[1].closeListener()
            let ids = try await TestClient.spread(port: port, count: 30, parallelism: 1)
            // Every third plan starts at b, is refused, and goes on to c.
            #expect(ids.counted() == ["a": 10, "c": 20])
            #expect(server.statistics.connectFailures == 10)
            #expect(server.statistics.rejected == 0)
        }
    }

    @Test func failingDirectoryKeepsTheLastMembership() async throws {
        let backends = try await self.startBackends(["a", "b"])
        let directory = FlakyDirectory(backends.map(\.backend))
        var configuration = BalancerConfiguration(host: "127.0.0.1", port: 0)
        configuration.directoryRefresh = .milliseconds(50)
        let server = BalancerServer(configuration: configuration, directory: directory)
        let port = try await server.start()
        directory.fail = true
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await TestClient.spread(port: port, count: 10).counted() == ["a": 5, "b": 5])
        try await server.shutdown()
    }

    @Test func removedBackendGetsNoNewConnectionsButKeepsItsOpenOne() async throws {
        let backends = try await self.startBackends(["a", "b", "c"])
        try await self.withBalancer(backends) { server, port, directory in
            // Round robin from a fresh balancer: the third connection goes to c.
            _ = try await TestClient.whichBackend(port: port)
            _ = try await TestClient.whichBackend(port: port)
            try await TestClient.withConnection(port: port) { held in
                try await held.send("first\n")
                #expect(try await held.readLine() == "c")
                #expect(try await held.readLine() == "first")

                let clock = ContinuousClock()
                let removedAt = clock.now
                directory.remove(id: "c")
                var lastPickOfC: Duration?
                while clock.now - removedAt < .milliseconds(2500) {
                    let id = try await TestClient.whichBackend(port: port)
                    if id == "c" { lastPickOfC = clock.now - removedAt }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(lastPickOfC == nil || lastPickOfC! < .seconds(2), "c still picked \(String(describing: lastPickOfC)) after removal")
                #expect(!server.readyBackends.map(\.id).contains("c"))

                // The spliced connection to c still works both ways.
                try await held.send("still here\n")
                #expect(try await held.readLine() == "still here")
            }
        }
    }

    @Test func addedBackendReceivesConnectionsWithinTwoSeconds() async throws {
        let backends = try await self.startBackends(["a", "b", "c"])
        try await self.withBalancer(Array(backends.prefix(2))) { _, port, directory in
            let fallback = try await TestClient.spread(port: port, count: 10).counted()
            #expect(fallback["a", default: 0] + fallback["b", default: 0] == 10)
            #expect(fallback["a", default: 0] > 0 && fallback["b", default: 0] > 0)
            directory.add(backends[2].backend)
            let taken = try await self.waitUntil(seconds: 2) {
                try await TestClient.whichBackend(port: port) == "c"
            }
            #expect(taken != nil, "c got no connection within 2 s of joining")
        }
    }

    @Test func backendAnswering503ReceivesNone() async throws {
        let backends = try await self.startBackends(["a", "b", "c"])
        backends[1].setReadyStatus(503)
        try await self.withBalancer(backends) { server, port, _ in
            let counts = try await TestClient.spread(port: port, count: 60).counted()
            #expect(counts == ["a": 30, "c": 30])
            #expect(backends[1].clientConnections == 0)
            #expect(server.readyBackends.map(\.id) == ["a", "c"])

            // Ready again: it rejoins the rotation at its next check.
            backends[1].setReadyStatus(200)
            let rejoined = try await self.waitUntil(seconds: 3) {
                server.readyBackends.map(\.id).contains("b")
            }
            #expect(rejoined != nil)
        }
    }

    @Test func readyNodeTurning503IsDrained() async throws {
        let backends = try await self.startBackends(["a", "b"])
        try await self.withBalancer(backends) { server, port, _ in
            backends[0].setReadyStatus(503)
            let drained = try await self.waitUntil(seconds: 3) {
                server.readyBackends.map(\.id) == ["b"]
            }
            #expect(drained != nil)
            #expect(try await TestClient.spread(port: port, count: 10).counted() == ["b": 10])
        }
    }

    @Test func silentNodesStayInUntilThreeProbesThenServeAsFallback() async throws {
        let backends = try await self.startBackends(["a", "b"])
        try await self.withBalancer(backends, configure: {
            $0.healthInterval = .milliseconds(500)
            $0.healthTimeout = .milliseconds(150)
        }) { server, port, _ in
            // Both go silent (a saturated machine): a silent probe does not take them out (three
            // need at least 1 s here)…
            backends[0].setReadyStatus(0)
            backends[1].setReadyStatus(0)
            try await Task.sleep(for: .milliseconds(400))
            #expect(server.readyBackends.map(\.id) == ["a", "b"])
            // …three in a row do; with no node ready, clients still go to the silent ones.
            let out = try await self.waitUntil(seconds: 3) { server.readyBackends.isEmpty }
            #expect(out != nil)
            let fallback = try await TestClient.spread(port: port, count: 10).counted()
            #expect(fallback["a", default: 0] + fallback["b", default: 0] == 10)
            #expect(fallback["a", default: 0] > 0 && fallback["b", default: 0] > 0)
            // A node that says no is never a fallback.
            backends[0].setReadyStatus(503)
            let refused = try await self.waitUntil(seconds: 3) {
                (try? await TestClient.spread(port: port, count: 4).counted()) == ["b": 4]
            }
            #expect(refused != nil)
        }
    }

    @Test func clientIsClosedPromptlyWhenNoBackendIsAvailable() async throws {
        try await self.withBalancer([]) { server, port, _ in
            let clock = ContinuousClock()
            let start = clock.now
            let closed = try await TestClient.withConnection(port: port) { conversation in
                await conversation.isClosedByPeer()
            }
            #expect(closed)
            #expect(clock.now - start < .seconds(1))
            #expect(server.statistics.rejected == 1)
        }
    }

    @Test func clientIsClosedWhenEveryBackendRefuses() async throws {
        let backends = try await self.startBackends(["a", "b"])
        // Checks far apart, so the pool still believes both are ready when they stop listening.
        try await self.withBalancer(backends, configure: { $0.healthInterval = .seconds(60) }) { server, port, _ in
            #expect(server.readyBackends.count == 2)
            for backend in backends { try await backend.closeListener() }
            let clock = ContinuousClock()
            let start = clock.now
            let closed = try await TestClient.withConnection(port: port) { conversation in
                await conversation.isClosedByPeer()
            }
            #expect(closed)
            #expect(clock.now - start < .seconds(2))
            #expect(server.statistics.connectFailures == 2)
            #expect(server.statistics.rejected == 1)
        }
    }

    @Test func shutdownClosesSplicedConnectionsAndStopsAccepting() async throws {
        let backends = try await self.startBackends(["a"])
        let directory = InMemoryBackendDirectory(backends.map(\.backend))
        let server = BalancerServer(configuration: BalancerConfiguration(host: "127.0.0.1", port: 0), directory: directory)
        let port = try await server.start()
        await #expect(throws: BalancerError.alreadyStarted) { try await server.start() }
        try await TestClient.withConnection(port: port) { held in
            try await held.send("hi\n")
            #expect(try await held.readLine() == "a")
            #expect(try await held.readLine() == "hi")
            try await server.shutdown()
            #expect(await held.isClosedByPeer())
        }
        await #expect(throws: (any Error).self) { try await TestClient.whichBackend(port: port) }
        try await server.shutdown()  // a second shutdown does nothing
    }
}

/// A directory whose reads start failing on demand, like a store that becomes unreachable.
private final class FlakyDirectory: BackendDirectory {
    private let state: Mutex<(members: [Backend], fail: Bool)>

    init(_ members: [Backend]) {
        self.state = Mutex((members, false))
    }

    var fail: Bool {
        get { self.state.withLock { $0.fail } }
        set { self.state.withLock { $0.fail = newValue } }
    }

    func backends() async throws -> [Backend] {
        try self.state.withLock { state in
            if state.fail { throw TestClientError(description: "store unreachable") }
            return state.members
        }
    }
}
