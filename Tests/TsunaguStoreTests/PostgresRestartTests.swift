import Foundation
import Synchronization
import Testing
import TsunaguCore
import TsunaguCrypto
import TsunaguTestSupport
@testable import TsunaguStore

/// The store's side of PostgreSQL LISTEN/NOTIFY, and of PostgreSQL going away and coming back.
@Suite(.serialized) struct PostgresRestartTests {
    @Test func aCommitIsAnnouncedToListenersOnOtherNodesAsTimelineAndSeqRanges() async throws {
        let f = try await StoreFixture.make(.postgres)
        defer { f.remove() }
        let other = try f.reopen()
        let heard = Shared<[CommitNotice.Range]>([])
        let connected = Shared(0)
        let listener = Task {
            await other.listenForChanges(onConnected: { connected.withLock { $0 += 1 } },
                                         onChanges: { ranges in heard.withLock { $0 += ranges } })
        }
        defer { listener.cancel() }
        try await eventually { connected.withLock { $0 } > 0 }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        for i in 0..<3 {
            _ = try await f.store.post(timeline: timeline.id, author: f.owner, body: "b\(i)", clientMsgID: "c\(i)")
        }
        try await eventually { heard.withLock { $0.contains { $0.timeline == timeline.id.rawValue && $0.last == 4 } } }
        let ranges = heard.withLock { $0 }.filter { $0.timeline == timeline.id.rawValue }
        #expect(ranges.first == CommitNotice.Range(timeline: timeline.id.rawValue, first: 1, last: 1))
        #expect(Set(ranges.flatMap { Array($0.first...$0.last) }) == Set(1...4))
        // A write that fails (and rolls back) announces nothing.
        let before = heard.withLock { $0.count }
        await #expect(throws: StoreError.self) {
            try await f.store.post(timeline: timeline.id, author: f.outsider, body: "no", clientMsgID: "x")
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(heard.withLock { $0.count } == before)
    }

    /// PostgreSQL restarts: operations fail at once as `unavailable` while it is down, nothing
    /// acknowledged is lost, and both the store and the listener carry on when it is back.
    @Test(.timeLimit(.minutes(2)))
    func aRestartOfPostgresIsUnavailableMeanwhileAndLosesNothingAcknowledged() async throws {
        let server = try PostgresTestServer()
        defer { server.stop() }
        let key = MasterKey(key: .random())
        let location = StoreLocation.postgres(try server.makeDatabase())
        let store = try HubStore(location: location, masterKey: key)
        let organization = try store.createOrganization(name: "O")
        let owner = try store.createUser(organization: organization.id, email: "a@o.test", name: "A", passwordHash: nil,
                                         role: .admin)
        let (timeline, _) = try await store.createTimeline(title: "T", kind: .group, creator: owner)
        let heard = Shared<Int64>(0)
        let connections = Shared(0)
        let listening = try HubStore(location: location, masterKey: key)
        let listener = Task {
            await listening.listenForChanges(onConnected: { connections.withLock { $0 += 1 } }, onChanges: { ranges in
                for range in ranges where range.timeline == timeline.id.rawValue {
                    heard.withLock { $0 = max($0, range.last) }
                }
            })
        }
        defer { listener.cancel() }
        try await eventually { connections.withLock { $0 } == 1 }

        var acknowledged: [Int64] = []
        for i in 0..<20 {
            acknowledged.append(try await store.post(timeline: timeline.id, author: owner, body: "before \(i)",
                                                     clientMsgID: "b\(i)").event.seq)
        }
        server.stopServer()
        var refused = 0
        for i in 0..<5 {
            do {
                _ = try await store.post(timeline: timeline.id, author: owner, body: "down \(i)", clientMsgID: "d\(i)")
                Issue.record("a post was acknowledged while PostgreSQL was down")
            } catch {
                #expect(StoreError.isUnavailable(error), "\(error)")
                refused += 1
            }
        }
        #expect(refused == 5)
        await #expect(throws: (any Error).self) { try await store.ping() }
        try server.startServer()
        // The first use of each pooled connection finds it closed and reconnects.
        var resumed: Int64?
        for i in 0..<50 where resumed == nil {
            resumed = try? await store.post(timeline: timeline.id, author: owner, body: "after \(i)", clientMsgID: "a\(i)")
                .event.seq
            if resumed == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let seq = try #require(resumed)
        try await eventually { connections.withLock { $0 } >= 2 }
        let next = try await store.post(timeline: timeline.id, author: owner, body: "later", clientMsgID: "later").event.seq
        try await eventually { heard.withLock { $0 } >= next }
        let (events, head) = try await store.history(timeline: timeline.id, user: owner.id, after: 0, limit: 100)
        #expect(head == next && seq < next)
        #expect(events.map(\.seq) == Array(1...head), "gapless after the restart")
        #expect(Set(acknowledged).isSubset(of: Set(events.map(\.seq))), "every acknowledged post survived")
    }
}

/// Polls `condition` for up to 20 s.
func eventually(_ condition: () async throws -> Bool) async throws {
    for _ in 0..<2_000 {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition never became true")
    throw CancellationError()
}

/// A value shared with escaping closures (a `Mutex` itself cannot be captured by one).
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}
