import Foundation
import Testing
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

@Suite(.serialized) struct EventLogTests {
    @Test(arguments: StoreBackendKind.allCases)
    func seqIsDenseAndStartsWithTheOwnersJoin(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (summary, first) = try await f.store.createTimeline(title: "Patient Tanaka", kind: .patient, creator: f.owner)
        #expect(first.seq == 1)
        #expect(summary.role == .owner)
        for i in 0..<5 {
            let (event, created) = try await f.store.post(timeline: summary.id, author: f.owner, body: "note \(i)",
                                                         clientMsgID: UUID().uuidString.lowercased())
            #expect(created)
            #expect(event.seq == Int64(i + 2))
        }
        let (events, head) = try await f.store.history(timeline: summary.id, user: f.owner.id, after: 0, limit: 100)
        #expect(head == 6)
        #expect(events.map(\.seq) == [1, 2, 3, 4, 5, 6])
    }

    @Test(arguments: StoreBackendKind.allCases)

    func postIsIdempotentPerAuthorAndClientMessageID(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        let id = UUID().uuidString.lowercased()
        let (first, created) = try await f.store.post(timeline: timeline.id, author: f.owner, body: "once", clientMsgID: id)
        let (again, createdAgain) = try await f.store.post(timeline: timeline.id, author: f.owner, body: "once", clientMsgID: id)
        #expect(created && !createdAgain)
        #expect(first == again)
        #expect(try await f.store.head(timeline: timeline.id) == first.seq)
    }

    /// Two stores on one file are two connections, as two node processes are: seqs stay unique and dense.
    @Test(arguments: StoreBackendKind.allCases)
    func concurrentWritersOnOneFileGetDenseUniqueSeqs(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let second = try f.reopen()
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        let seqs = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<200 {
                let store = i.isMultiple(of: 2) ? f.store : second
                group.addTask {
                    try await store.post(timeline: timeline.id, author: f.owner, body: "n\(i)",
                                         clientMsgID: UUID().uuidString.lowercased()).event.seq
                }
            }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        #expect(seqs.sorted() == Array(2...201))
    }

    @Test(arguments: StoreBackendKind.allCases)

    func reactionsMustTargetAMessage(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        await #expect(throws: StoreError.notFound("target_seq is not a message of this timeline")) {
            try await f.store.react(timeline: timeline.id, author: f.owner, targetSeq: 1, reaction: "ack", op: .add)
        }
        let (message, _) = try await f.store.post(timeline: timeline.id, author: f.owner, body: "x",
                                                  clientMsgID: UUID().uuidString.lowercased())
        let reaction = try await f.store.react(timeline: timeline.id, author: f.owner, targetSeq: message.seq,
                                               reaction: "ack", op: .add)
        #expect(reaction.payload == .reaction(targetSeq: message.seq, reaction: "ack", op: .add))
    }

    @Test(arguments: StoreBackendKind.allCases)

    func callEndRecordsDurationAndRefusesRepeats(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        let call = UUID().uuidString.lowercased()
        await #expect(throws: StoreError.notFound("no call with that call_id was started")) {
            try await f.store.call(timeline: timeline.id, author: f.owner, callID: call, op: .end)
        }
        let start = try await f.store.call(timeline: timeline.id, author: f.owner, callID: call, op: .start)
        await #expect(throws: StoreError.conflict("call_id was already started")) {
            try await f.store.call(timeline: timeline.id, author: f.owner, callID: call, op: .start)
        }
        let end = try await f.store.call(timeline: timeline.id, author: f.owner, callID: call, op: .end)
        guard case .call(_, .end, let startedAt, let duration) = end.payload else { Issue.record("not a call end"); return }
        #expect(startedAt == start.atMillis)
        // Whole seconds between the two events (a loaded machine may take over a second).
        #expect(duration == (end.atMillis - start.atMillis) / 1000)
        await #expect(throws: StoreError.conflict("call already ended")) {
            try await f.store.call(timeline: timeline.id, author: f.owner, callID: call, op: .end)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)

    func readMarkersOnlyMoveForwardAndNotBeyondHead(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        _ = try await f.store.post(timeline: timeline.id, author: f.owner, body: "x", clientMsgID: UUID().uuidString.lowercased())
        #expect(try await f.store.markRead(timeline: timeline.id, user: f.owner.id, seq: 2))
        #expect(try await !f.store.markRead(timeline: timeline.id, user: f.owner.id, seq: 1))
        await #expect(throws: StoreError.invalid("seq: beyond the timeline's head")) {
            try await f.store.markRead(timeline: timeline.id, user: f.owner.id, seq: 3)
        }
        #expect(try await f.store.receipts(timeline: timeline.id) == [ReadReceipt(user: f.owner.id, seq: 2)])
    }
}
