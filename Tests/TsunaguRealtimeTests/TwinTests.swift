import Testing
import TsunaguCore
import TsunaguRealtime

/// The in-memory twins behave as the store does where the core relies on it, and drive the
/// session machine through a whole session on a manual clock.
@Suite struct TwinTests {
    @Test func aSessionFromTheAuthorityLivesUntilItExpiresOnTheClock() throws {
        let clock = ManualWallClock()
        let authority = InMemorySessionAuthority<String>(clock: clock)
        authority.issue("t1", for: "nurse", expiresAtMillis: clock.nowMillis + 5_000)
        var machine = SessionStateMachine<String>()
        #expect(machine.authReceived() == .check)
        guard case .live(let session, let expires) = try authority.authenticate(token: "t1", certificateFingerprint: nil)
        else { Issue.record("not live"); return }
        #expect(machine.authSucceeded(session, expiresAtMillis: expires) == [.cancelAuthTimer, .register])
        guard case .proceed("nurse") = machine.admit(nowMillis: clock.nowMillis) else { Issue.record("refused"); return }
        clock.advance(millis: 5_000)
        guard case .expired = machine.admit(nowMillis: clock.nowMillis) else { Issue.record("not expired"); return }
        guard case .unknownToken = try authority.authenticate(token: "t1", certificateFingerprint: nil) else {
            Issue.record("an expired token still authenticates"); return
        }
    }

    @Test func aTokenBoundToACertificateNeedsThatCertificate() throws {
        let clock = ManualWallClock()
        let authority = InMemorySessionAuthority<String>(clock: clock)
        authority.issue("t2", for: "doctor", expiresAtMillis: clock.nowMillis + 1_000, certificate: [1, 2, 3])
        guard case .clientCertificateRequired = try authority.authenticate(token: "t2", certificateFingerprint: nil),
            case .clientCertificateRequired = try authority.authenticate(token: "t2", certificateFingerprint: [9]),
            case .live = try authority.authenticate(token: "t2", certificateFingerprint: [1, 2, 3])
        else { Issue.record("the certificate rule did not hold"); return }
        authority.revoke("t2")
        guard case .unknownToken = try authority.authenticate(token: "t2", certificateFingerprint: [1, 2, 3]) else {
            Issue.record("a revoked token still authenticates"); return
        }
    }

    @Test func theRegistryListsActiveNodesWithinTheLeaseAndPassesOnDrainRequests() async throws {
        let clock = ManualWallClock()
        let registry = InMemoryNodeRegistry(clock: clock)
        let a = NodeID("n_a"), b = NodeID("n_b")
        try await registry.registerNode(id: a, host: "127.0.0.1", port: 1, pid: nil)
        try await registry.registerNode(id: b, host: "127.0.0.1", port: 2, pid: nil)
        #expect(try await registry.liveNodes(leaseMillis: 3_000).isEmpty, "joining nodes are not live")
        try await registry.setNodeState(id: a, .active)
        try await registry.setNodeState(id: b, .active)
        #expect(try await registry.liveNodes(leaseMillis: 3_000).map(\.id) == [a, b])
        clock.advance(millis: 2_000)
        #expect(try await registry.heartbeat(id: a, state: .active, connections: 3, subscriptions: 4) == nil)
        clock.advance(millis: 1_500)
        #expect(try await registry.liveNodes(leaseMillis: 3_000).map(\.id) == [a], "b's heartbeat is past the lease")
        registry.requestState(id: a, .draining)
        #expect(try await registry.heartbeat(id: a, state: .active, connections: 3, subscriptions: 4) == .draining)
    }

    @Test func theEventLogReadsRangesAndHeadsLikeTheStore() async throws {
        let log = InMemoryEventLog()
        let timeline = TimelineID.random(), other = TimelineID.random()
        let author = Person(id: .random(), name: "Ito")
        for _ in 1...5 { log.append(timeline, author: author, payload: .message(body: "x", clientMsgID: "m")) }
        #expect(try await log.events(timeline: timeline, after: 1, through: 4, limit: 2).map(\.seq) == [2, 3])
        #expect(try await log.heads(of: [timeline, other]) == [timeline: 5])
        log.failReads = true
        await #expect(throws: InMemoryEventLog.Unreachable.self) {
            _ = try await log.events(timeline: timeline, after: 0, through: 5, limit: 10)
        }
    }
}
