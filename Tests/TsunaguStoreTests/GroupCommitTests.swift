import Foundation
import GRDB
import Synchronization
import Testing
import TsunaguCore
import TsunaguCrypto
@testable import TsunaguStore

/// The store's event writes through `GroupCommitter`: correctness when many writes share one
/// transaction, and proof that they do.
@Suite(.serialized) struct GroupCommitTests {
    @Test(arguments: StoreBackendKind.allCases)
    func manyConcurrentPostsGetDenseSeqsPerTimelineAndSurviveReopening(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        var timelines: [TimelineID] = []
        for title in ["A", "B", "C"] {
            timelines.append(try await f.store.createTimeline(title: title, kind: .group, creator: f.owner).0.id)
        }
        let timelineList = timelines
        // 20 tasks × 25 posts, spread over the three timelines.
        let events = try await withThrowingTaskGroup(of: [TimelineEvent].self) { group in
            for task in 0..<20 {
                group.addTask {
                    var mine: [TimelineEvent] = []
                    for i in 0..<25 {
                        let timeline = timelineList[(task + i) % timelineList.count]
                        let (event, created) = try await f.store.post(
                            timeline: timeline, author: f.owner, body: "t\(task) n\(i)",
                            clientMsgID: UUID().uuidString.lowercased())
                        #expect(created)
                        mine.append(event)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [TimelineEvent]()) { $0 += $1 }
        }
        #expect(events.count == 500)
        let reopened = try f.reopen()
        for timeline in timelines {
            let posted = events.filter { $0.timeline == timeline }.map(\.seq).sorted()
            // seq 1 is the owner's join at creation.
            #expect(posted == Array(2...Int64(posted.count + 1)))
            let (stored, head) = try await reopened.history(timeline: timeline, user: f.owner.id, after: 0, limit: 1000)
            #expect(head == Int64(posted.count + 1))
            #expect(stored.map(\.seq) == Array(1...head))
            #expect(Array(stored.dropFirst()) == events.filter { $0.timeline == timeline }.sorted { $0.seq < $1.seq })
        }
        let counts = f.store.groupCommit.counts
        #expect(counts.operations == 500)
        #expect(counts.transactions <= counts.operations)
    }

    @Test(arguments: StoreBackendKind.allCases)
    func aFailingWriteInABatchFailsAloneAndTheOthersCommit(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        let call = UUID().uuidString.lowercased()
        _ = try await f.store.call(timeline: timeline.id, author: f.owner, callID: call, op: .start)
        let before = f.store.groupCommit.counts

        let results = try await withWriterHeld(f.store, expectQueued: 5) { store in
            [
                Task { try await store.post(timeline: timeline.id, author: f.owner, body: "ok 1",
                                            clientMsgID: UUID().uuidString.lowercased()).event.seq },
                // Not a member of the timeline.
                Task { try await store.post(timeline: timeline.id, author: f.outsider, body: "no",
                                            clientMsgID: UUID().uuidString.lowercased()).event.seq },
                Task { try await store.post(timeline: timeline.id, author: f.owner, body: "ok 2",
                                            clientMsgID: UUID().uuidString.lowercased()).event.seq },
                // A second start of the same call.
                Task { try await store.call(timeline: timeline.id, author: f.owner, callID: call, op: .start).seq },
                Task { try await store.post(timeline: timeline.id, author: f.owner, body: "ok 3",
                                            clientMsgID: UUID().uuidString.lowercased()).event.seq },
            ]
        }
        for task in results { _ = await task.result }
        // Held writer: all five went into one transaction.
        #expect(f.store.groupCommit.counts.transactions == before.transactions + 1)
        #expect(f.store.groupCommit.counts.operations == before.operations + 5)

        await #expect(throws: StoreError.forbidden("not a member of this timeline")) { try await results[1].value }
        await #expect(throws: StoreError.conflict("call_id was already started")) { try await results[3].value }
        var committed: [Int64] = []
        for index in [0, 2, 4] { committed.append(try await results[index].value) }
        // The owner's join is 1, the call start 2; the three good posts follow with no gap.
        #expect(committed.sorted() == [3, 4, 5])
        let (events, head) = try await f.store.history(timeline: timeline.id, user: f.owner.id, after: 2, limit: 100)
        #expect(head == 5)
        #expect(Set(events.compactMap(\.payload.messageBody)) == ["ok 1", "ok 2", "ok 3"])
    }

    @Test(arguments: StoreBackendKind.allCases)
    func aRepeatedClientMessageIDInOneBatchReturnsTheFirstEvent(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        let id = UUID().uuidString.lowercased()
        let before = f.store.groupCommit.counts
        let tasks = try await withWriterHeld(f.store, expectQueued: 2) { store in
            (0..<2).map { _ in
                Task { try await store.post(timeline: timeline.id, author: f.owner, body: "once", clientMsgID: id) }
            }
        }
        let first = try await tasks[0].value
        let second = try await tasks[1].value
        #expect(f.store.groupCommit.counts.transactions == before.transactions + 1)
        #expect(first.created != second.created)
        #expect(first.event == second.event)
        #expect(try await f.store.head(timeline: timeline.id) == 2)
        let rows = try await f.store.read { db in
            try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE client_msg_id = ?", arguments: [id])
        }
        #expect(rows == 1)
    }

    /// Every answer a post can get, all in one batch: on PostgreSQL the batch's posts run as one
    /// group (`PostWrite`), on SQLite one by one; the answers are the same.
    @Test(arguments: StoreBackendKind.allCases)
    func aBatchOfPostsGivesEachPostItsOwnAnswer(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (a, _) = try await f.store.createTimeline(title: "A", kind: .group, creator: f.owner)
        let (b, _) = try await f.store.createTimeline(title: "B", kind: .group, creator: f.owner)
        let earlier = "earlier-" + UUID().uuidString.lowercased()
        let (original, _) = try await f.store.post(timeline: a.id, author: f.owner, body: "first", clientMsgID: earlier)
        let twice = "twice-" + UUID().uuidString.lowercased()
        let before = f.store.groupCommit.counts
        func post(_ timeline: TimelineID, _ author: UserRecord, _ body: String, _ id: String) -> Task<(TimelineEvent, Bool), any Error> {
            Task { let (event, created) = try await f.store.post(timeline: timeline, author: author, body: body, clientMsgID: id)
                   return (event, created) }
        }
        let posts: [(TimelineID, UserRecord, String, String)] = [
            (a.id, f.owner, "a1", UUID().uuidString.lowercased()),
            (b.id, f.owner, "b1", UUID().uuidString.lowercased()),
            (a.id, f.outsider, "no", UUID().uuidString.lowercased()),  // not a member
            (a.id, f.owner, "again", earlier),  // a retry of a committed post
            (b.id, f.owner, "elsewhere", earlier),  // its id on another timeline
            (b.id, f.owner, "b2", twice),
            (b.id, f.owner, "b2 again", twice),  // a retry within the batch
            (a.id, f.owner, "a2", UUID().uuidString.lowercased()),
        ]
        let tasks = try await withWriterHeld(f.store, expectQueued: posts.count) { store in
            var tasks: [Task<(TimelineEvent, Bool), any Error>] = []
            for (timeline, author, body, id) in posts {  // queued one after another, in this order
                tasks.append(post(timeline, author, body, id))
                try await waitUntil { store.groupCommit.queuedCount == tasks.count }
            }
            return tasks
        }
        var answers: [Result<(TimelineEvent, Bool), any Error>] = []
        for task in tasks { answers.append(await task.result) }
        #expect(f.store.groupCommit.counts.transactions == before.transactions + 1)
        func message(_ index: Int) -> (body: String?, seq: Int64, created: Bool)? {
            guard case .success(let (event, created)) = answers[index] else { return nil }
            return (event.payload.messageBody, event.seq, created)
        }
        // Seqs follow the queue's order per timeline: a is at 2 (join, "first"), b at 1 (join).
        #expect(message(0).map { [$0.body == "a1", $0.seq == 3, $0.created] } == [true, true, true])
        #expect(message(1).map { [$0.body == "b1", $0.seq == 2, $0.created] } == [true, true, true])
        #expect(throws: StoreError.forbidden("not a member of this timeline")) { try answers[2].get() }
        #expect(try answers[3].get().0 == original)
        #expect(try answers[3].get().1 == false)
        #expect(throws: StoreError.conflict("client_msg_id was already used on another timeline")) { try answers[4].get() }
        #expect(message(5).map { [$0.body == "b2", $0.seq == 3, $0.created] } == [true, true, true])
        #expect(try answers[6].get().0 == answers[5].get().0)
        #expect(try answers[6].get().1 == false)
        #expect(message(7).map { [$0.body == "a2", $0.seq == 4, $0.created] } == [true, true, true])
        let (storedA, headA) = try await f.store.history(timeline: a.id, user: f.owner.id, after: 0, limit: 10)
        let (storedB, headB) = try await f.store.history(timeline: b.id, user: f.owner.id, after: 0, limit: 10)
        #expect(headA == 4 && headB == 3)
        #expect(storedA.compactMap(\.payload.messageBody) == ["first", "a1", "a2"])
        #expect(storedB.compactMap(\.payload.messageBody) == ["b1", "b2"])
    }

    /// A connection's run of posts (`HubStore.queuePost`): queued one after another without
    /// waiting, they get their seqs in that order, a refused one fails alone, and while the
    /// committer is busy they all wait for one transaction (not one commit per post).
    @Test(arguments: StoreBackendKind.allCases)
    func postsQueuedOneAfterAnotherGetSeqsInThatOrderAndShareACommit(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        func queue(_ count: Int, from first: Int, refusing refused: Int?) -> [QueuedWrite<(event: TimelineEvent, created: Bool)>] {
            (first..<first + count).map { n in
                f.store.queuePost(timeline: timeline.id, author: n == refused ? f.outsider : f.owner, body: "n\(n)",
                                  clientMsgID: UUID().uuidString.lowercased())
            }
        }
        var seqs: [Int64] = []
        func answers(_ queued: [QueuedWrite<(event: TimelineEvent, created: Bool)>], from first: Int) async throws {
            for (offset, write) in queued.enumerated() {
                let n = first + offset
                if n == 7 {
                    await #expect(throws: StoreError.forbidden("not a member of this timeline")) { try await write.value }
                    continue
                }
                let (event, created) = try await write.value
                #expect(created && event.payload.messageBody == "n\(n)")
                seqs.append(event.seq)
            }
        }
        // The committer idle: the first post starts a batch at once, the others follow it.
        try await answers(queue(30, from: 0, refusing: 7), from: 0)
        // With the committer held: all thirty wait for the same transaction.
        let before = f.store.groupCommit.counts
        try await answers(try await withWriterHeld(f.store, expectQueued: 30) { _ in queue(30, from: 30, refusing: nil) },
                          from: 30)
        // seq 1 is the owner's join at creation; 59 posts follow in the order queued, no gap.
        #expect(seqs == Array(2...60))
        #expect(f.store.groupCommit.counts.transactions == before.transactions + 1)
        #expect(f.store.groupCommit.counts.operations == before.operations + 30)
    }

    /// Two nodes on one PostgreSQL database post the same `client_msg_id`s at once, one node to
    /// timeline A and the other to B, in batches. Batches on different timelines do not wait for
    /// each other's row locks, so one node's insert can find an id taken after its lookup (the
    /// other committed it meanwhile): its group falls back to one by one (`GroupedWriteFallback`).
    /// Each id is written once; the other post is refused as a reuse on another timeline.
    @Test func twoNodesRacingTheSameClientMessageIDsWriteEachOnce() async throws {
        let f = try await StoreFixture.make(.postgres)
        defer { f.remove() }
        let other = try f.reopen()
        let (a, _) = try await f.store.createTimeline(title: "A", kind: .group, creator: f.owner)
        let (b, _) = try await f.store.createTimeline(title: "B", kind: .group, creator: f.owner)
        let ids = (0..<200).map { "race-\($0)-" + UUID().uuidString.lowercased() }
        let answers = await withTaskGroup(of: (String, Result<TimelineEvent, any Error>).self) { group in
            for id in ids {
                for (store, timeline) in [(f.store, a.id), (other, b.id)] {
                    group.addTask {
                        (id, await outcome { try await store.post(timeline: timeline, author: f.owner, body: id, clientMsgID: id).event })
                    }
                }
            }
            return await group.reduce(into: [String: [Result<TimelineEvent, any Error>]]()) { $0[$1.0, default: []].append($1.1) }
        }
        var written = 0
        for id in ids {
            let both = answers[id] ?? []
            let events = both.compactMap { try? $0.get() }
            #expect(events.count == 1, "one post of the id is written")
            for case .failure(let error) in both {
                #expect(error as? StoreError == .conflict("client_msg_id was already used on another timeline"))
            }
            written += events.count
        }
        var bodies: [String] = []
        for timeline in [a.id, b.id] {
            let (events, head) = try await f.store.history(timeline: timeline, user: f.owner.id, after: 0, limit: 500)
            #expect(events.map(\.seq) == Array(1...head), "gapless")
            bodies += events.compactMap(\.payload.messageBody)
        }
        #expect(bodies.count == written && Set(bodies) == Set(ids))
        let fallbacks = f.store.groupCommit.counts.fallbacks + other.groupCommit.counts.fallbacks
        print("twoNodesRacingTheSameClientMessageIDsWriteEachOnce: \(fallbacks) groups fell back to one by one")
    }

    @Test func aFailedCommitFailsEveryCallerOfTheBatch() async throws {
        let f = try await StoreFixture.make()
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        let refuser = CommitRefuser()
        try await f.store.pool.writeWithoutTransaction { $0.add(transactionObserver: refuser, extent: .observerLifetime) }
        let tasks = try await withWriterHeld(f.store, expectQueued: 4) { store in
            (0..<4).map { i in
                Task { try await store.post(timeline: timeline.id, author: f.owner, body: "lost \(i)",
                                            clientMsgID: UUID().uuidString.lowercased()) }
            }
        }
        for task in tasks {
            await #expect(throws: CommitRefuser.Refused.self) { try await task.value }
        }
        try await f.store.pool.writeWithoutTransaction { $0.remove(transactionObserver: refuser) }
        #expect(try await f.store.head(timeline: timeline.id) == 1)
        // The store keeps working after the failed batch.
        let (event, _) = try await f.store.post(timeline: timeline.id, author: f.owner, body: "kept",
                                                clientMsgID: UUID().uuidString.lowercased())
        #expect(event.seq == 2)
    }

    @Test(arguments: StoreBackendKind.allCases)

    func reactionsCallsAndReadMarkersGoThroughTheCommitter(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        let before = f.store.groupCommit.counts.operations
        let (message, _) = try await f.store.post(timeline: timeline.id, author: f.owner, body: "x",
                                                  clientMsgID: UUID().uuidString.lowercased())
        _ = try await f.store.react(timeline: timeline.id, author: f.owner, targetSeq: message.seq, reaction: "ack", op: .add)
        _ = try await f.store.call(timeline: timeline.id, author: f.owner, callID: "c1", op: .start)
        #expect(try await f.store.markRead(timeline: timeline.id, user: f.owner.id, seq: 3))
        #expect(f.store.groupCommit.counts.operations == before + 4)
    }
}

/// Unit tests of the committer on a bare database, without the store around it.
@Suite struct GroupCommitterTests {
    @Test func concurrentWritesQueuedDuringACommitShareOneTransaction() async throws {
        let (pool, directory) = try Self.pool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let committer = GroupCommitter(writer: pool)
        let gate = Gate()
        // The first write holds the writer until 199 more have queued behind it.
        let first = Task { try await committer.enqueue { db in
            gate.wait()
            try db.execute(sql: "INSERT INTO t (v) VALUES (0)")
        } }
        try await waitUntil { committer.counts.transactions == 1 }
        let others = (1..<200).map { (i: Int) in
            Task { try await committer.enqueue { db in
                try Int64.fetchOne(db, sql: "INSERT INTO t (v) VALUES (?) RETURNING id", arguments: [i])!
            } }
        }
        try await waitUntil { committer.queuedCount == 199 }
        gate.open()
        try await first.value
        var ids = Set<Int64>()
        for task in others { ids.insert(try await task.value) }
        #expect(ids.count == 199)
        #expect(committer.counts == GroupCommitter.Counts(transactions: 2, operations: 200))
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM t") } == 200)
    }

    @Test func aBatchIsCappedAtItsMaximumSize() async throws {
        let (pool, directory) = try Self.pool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let committer = GroupCommitter(writer: pool, maxBatch: 4)
        let gate = Gate()
        let first = Task { try await committer.enqueue { _ in gate.wait() } }
        try await waitUntil { committer.counts.transactions == 1 }
        let others = (0..<10).map { (i: Int) in
            Task { try await committer.enqueue { db in try db.execute(sql: "INSERT INTO t (v) VALUES (?)", arguments: [i]) } }
        }
        try await waitUntil { committer.queuedCount == 10 }
        gate.open()
        try await first.value
        for task in others { try await task.value }
        // 1 held + 4 + 4 + 2.
        #expect(committer.counts == GroupCommitter.Counts(transactions: 4, operations: 11))
    }

    @Test func aFailedCommitFailsEveryJobAndALoneFailureFailsOnlyItself() async throws {
        let (pool, directory) = try Self.pool()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let committer = GroupCommitter(writer: pool)
        struct Refused: Error {}
        let alone = Task { try await committer.enqueue { _ in throw Refused() } }
        await #expect(throws: Refused.self) { try await alone.value }

        let refuser = CommitRefuser()
        try await pool.writeWithoutTransaction { $0.add(transactionObserver: refuser, extent: .observerLifetime) }
        let gate = Gate()
        let first = Task { try await committer.enqueue { db in
            gate.wait()
            try db.execute(sql: "INSERT INTO t (v) VALUES (0)")
        } }
        try await waitUntil { committer.counts.transactions == 2 }
        let others = (1...5).map { (i: Int) in
            Task { try await committer.enqueue { db in try db.execute(sql: "INSERT INTO t (v) VALUES (?)", arguments: [i]) } }
        }
        try await waitUntil { committer.queuedCount == 5 }
        gate.open()
        await #expect(throws: CommitRefuser.Refused.self) { try await first.value }
        for task in others {
            await #expect(throws: CommitRefuser.Refused.self) { try await task.value }
        }
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM t") } == 0)
    }

    static func pool() throws -> (DatabasePool, String) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tsunagu-group-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: directory + "/t.sqlite")
        try pool.write { try $0.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)") }
        return (pool, directory)
    }
}

// MARK: helpers

/// Holds the store's writer busy while `start` queues writes, releases it once `expectQueued` of
/// them wait in the committer, so they deterministically form one batch (no timing involved).
private func withWriterHeld<R: Sendable>(_ store: HubStore, expectQueued: Int,
                                         _ start: (HubStore) async throws -> R) async throws -> R {
    let gate = Gate()
    // The committer's batches run on the SQLite writer, or on the PostgreSQL commit lane.
    let held: Task<Void, any Error>
    switch store.backend {
    case .sqlite(let pool): held = Task { try await pool.writeWithoutTransaction { _ in gate.wait() } }
    case .postgres(let postgres): held = Task { try await postgres.commitLane.runIfActive { gate.wait() } }
    }
    try await waitUntil { gate.isWaiting }
    let result = try await start(store)
    try await waitUntil { store.groupCommit.queuedCount == expectQueued }
    gate.open()
    try await held.value
    return result
}

private func outcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// Polls `condition`, yielding between checks. A liveness wait, not a timing assertion: it fails
/// only if the condition never becomes true within a generous bound.
private func waitUntil(_ condition: () -> Bool) async throws {
    for _ in 0..<20_000 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(1))
    }
    Issue.record("condition never became true")
    throw CancellationError()
}

/// A one-shot latch for blocking the database writer's thread (never a Swift concurrency thread).
private final class Gate: Sendable {
    private let state = Mutex((waiting: false, open: false))
    private let semaphore = DispatchSemaphore(value: 0)

    var isWaiting: Bool { state.withLock { $0.waiting } }

    func wait() {
        state.withLock { $0.waiting = true }
        semaphore.wait()
    }

    func open() {
        let wasOpen = state.withLock { state -> Bool in
            defer { state.open = true }
            return state.open
        }
        if !wasOpen { semaphore.signal() }
    }
}

/// Makes every COMMIT fail, as a full disk or an I/O error at commit would.
private final class CommitRefuser: TransactionObserver, @unchecked Sendable {
    struct Refused: Error {}
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseWillCommit() throws { throw Refused() }
    func databaseDidCommit(_ db: GRDB.Database) {}
    func databaseDidRollback(_ db: GRDB.Database) {}
}

private extension TimelineEvent.Payload {
    var messageBody: String? {
        if case .message(let body, _) = self { return body }
        return nil
    }
}
