import Testing
import TsunaguCore

@testable import TsunaguNode

/// The per-connection request queue: one drain task at a time, answers in order, and the inbox
/// turns idle only on the event loop, behind the task's last reply.
@Suite struct RequestInboxTests {
    static func ping(_ id: Int64) -> ClientRequest { ClientRequest(id: id, command: .ping) }

    @Test func aFinishedTaskLeavesTheInboxBusyUntilTheLoopConfirms() {
        var inbox = RequestInbox()
        #expect(inbox.isIdle)
        var outcomes = [inbox.enqueue(Self.ping(1), limit: 4), inbox.enqueue(Self.ping(2), limit: 4)]
        #expect(outcomes == [.startDraining, .queued])
        var taken = [inbox.next()?.id, inbox.next()?.id, inbox.next()?.id]
        #expect(taken == [1, 2, nil])
        // The task has ended but its last reply may still wait for the loop: not idle yet, so a
        // request arriving now queues instead of being answered inline ahead of that reply.
        #expect(!inbox.isIdle)
        outcomes = [inbox.enqueue(Self.ping(3), limit: 4)]
        #expect(outcomes == [.queued])
        var restart = inbox.finishDraining()
        #expect(restart)  // one arrived meanwhile: a new task takes it
        taken = [inbox.next()?.id, inbox.next()?.id]
        #expect(taken == [3, nil])
        restart = inbox.finishDraining()
        #expect(!restart)
        #expect(inbox.isIdle)
        outcomes = [inbox.enqueue(Self.ping(4), limit: 4)]
        #expect(outcomes == [.startDraining])
    }

    static func post(_ id: Int64) -> ClientRequest {
        ClientRequest(id: id, command: .post(timeline: TimelineID.random(), body: "b", clientMsgID: "m\(id)"))
    }

    /// Consecutive posts are taken as one run (queued for the store together), up to the limit
    /// and never past a request of another kind; a run counts in full against the inbox's limit.
    @Test func consecutivePostsAreTakenAsOneRun() {
        var inbox = RequestInbox()
        for request in [Self.post(1), Self.post(2), Self.post(3), Self.post(4), Self.ping(5), Self.post(6)] {
            _ = inbox.enqueue(request, limit: 8)
        }
        var run = inbox.nextRun(limit: 3) { $0.command.isPost }
        #expect(run.map(\.id) == [1, 2, 3])
        // Three taken and three waiting: two more fit, not three.
        #expect(inbox.enqueue(Self.ping(7), limit: 8) == .queued)
        #expect(inbox.enqueue(Self.ping(8), limit: 8) == .queued)
        #expect(inbox.enqueue(Self.ping(9), limit: 8) == .full)
        run = inbox.nextRun(limit: 3) { $0.command.isPost }
        #expect(run.map(\.id) == [4])  // the ping after it runs alone
        run = inbox.nextRun(limit: 3) { $0.command.isPost }
        #expect(run.map(\.id) == [5])
        run = inbox.nextRun(limit: 3) { $0.command.isPost }
        #expect(run.map(\.id) == [6])
        #expect(inbox.next()?.id == 7)
    }

    @Test func requestsBeyondTheLimitAreRefusedNotQueued() {
        var inbox = RequestInbox()
        for id in 1...3 { _ = inbox.enqueue(Self.ping(Int64(id)), limit: 3) }
        var outcome = inbox.enqueue(Self.ping(4), limit: 3)
        #expect(outcome == .full)
        _ = inbox.next()  // one running, two waiting: still full
        outcome = inbox.enqueue(Self.ping(5), limit: 3)
        #expect(outcome == .full)
        for _ in 0..<3 { _ = inbox.next() }
        outcome = inbox.enqueue(Self.ping(6), limit: 3)
        #expect(outcome == .queued)
    }
}
