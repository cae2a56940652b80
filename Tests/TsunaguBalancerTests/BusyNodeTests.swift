import Logging
import NIOCore
import NIOPosix
import Testing

@testable import TsunaguBalancer

/// How the balancer reads a node that does not answer its SYNs (a full accept queue, as during a
/// reconnect storm) as opposed to a node that is gone: slow is not absent.
@Suite(.serialized) struct BusyNodeTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    @Test func aRefusedProbeIsANoAndAFullAcceptQueueIsSilence() async throws {
        let checker = BackendHealthChecker(timeout: .milliseconds(300))
        let gone = Backend(id: "gone", host: "127.0.0.1", port: try await Self.portNobodyListensOn())
        #expect(try await checker.probe(gone, on: loop).get() == .notReady)

        let busy = try await FullAcceptQueue()
        let result = try await checker.probe(Backend(id: "busy", host: "127.0.0.1", port: busy.port), on: loop).get()
        await busy.close()
        #expect(result == .silent)
    }

    @Test func aConnectThatTimedOutGetsAPatientSecondAttempt() async throws {
        let busy = try await FullAcceptQueue()
        let counters = BalancerCounters()
        let connector = BackendConnector(
            connectTimeout: .milliseconds(100), busyConnectTimeout: .seconds(5), counters: counters,
            logger: Logger(label: "test"))
        let backend = Backend(id: "busy", host: "127.0.0.1", port: busy.port)
        // The node catches up 300 ms in: the first 100 ms attempt has failed by then; the patient
        // one gets through on the kernel's SYN retry (1 s after its SYN, then 3 s after that).
        let clock = ContinuousClock()
        let start = clock.now
        Task {
            try await Task.sleep(for: .milliseconds(300))
            busy.startAccepting()
        }
        let connected = try? await connector.connect(to: [backend][...], on: loop).get()
        let took = clock.now - start
        #expect(connected?.1 == backend)
        #expect(took > .milliseconds(250))
        #expect(counters.snapshot.connectFailures == 1)
        try? await connected?.0.close()
        await busy.close()

        // Refused connects are not retried: nothing listens there (one failure, not two). A
        // connector of its own with a 2 s timeout: with 100 ms, at the busy start of a full test
        // run the timeout once fired before the refusal was read, and a timeout is retried.
        let refusedCounters = BalancerCounters()
        let refused = BackendConnector(
            connectTimeout: .seconds(2), busyConnectTimeout: .seconds(5), counters: refusedCounters,
            logger: Logger(label: "test"))
        let gone = Backend(id: "gone", host: "127.0.0.1", port: try await Self.portNobodyListensOn())
        await #expect(throws: (any Error).self) { try await refused.connect(to: [gone][...], on: loop).get() }
        #expect(refusedCounters.snapshot.connectFailures == 1)
    }

    /// A loopback port that was just free (bound, then closed).
    static func portNobodyListensOn() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }
}
