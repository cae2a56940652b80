import Foundation
import Logging
import Testing

@testable import TsunaguMail

/// The worker against the in-memory twins: no sockets, no disk.
@Suite("Mail delivery worker (in memory)")
struct MailDeliveryWorkerTests {
    func message(_ id: String) -> MailMessage {
        MailMessage(id: id, from: "noreply@tsunagu.example", to: "\(id)@clinic.example", subject: "s", textBody: "b")
    }

    func worker(_ store: InMemoryOutboxStore, _ transport: InMemoryTransport, maxAttempts: Int = 20,
                pollInterval: Duration = .milliseconds(20)) -> MailDeliveryWorker {
        MailDeliveryWorker(store: store, transport: transport, pollInterval: pollInterval, maxAttempts: maxAttempts,
                           backoff: { _ in .milliseconds(10) }, logger: Logger(label: "test.mail"))
    }

    /// Runs the worker until `done` holds (or 120 s pass), then cancels it. The bound is loose on
    /// purpose: beside the process-level tests a loaded 2-core machine delays timers by tens of
    /// seconds; a passing run ends as soon as `done` holds.
    func run(_ worker: MailDeliveryWorker, until done: @escaping @Sendable () -> Bool) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await worker.run() }
            let deadline = ContinuousClock.now + .seconds(120)
            while !done(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            group.cancelAll()
        }
    }

    @Test func transientFailuresAreRetriedThenSentOnce() async throws {
        let store = InMemoryOutboxStore()
        let transport = InMemoryTransport()
        transport.failNext(2)
        store.enqueue(self.message("m1"))
        try await self.run(self.worker(store, transport)) { store.records.allSatisfy { if case .sent = $0.status { true } else { false } } }
        #expect(transport.delivered.map(\.id) == ["m1"])
        #expect(transport.attempts == 3)
        let record = try #require(store.record("m1"))
        #expect(record.entry.attempts == 2)
        #expect(record.lastError == "SMTP connection failed: simulated failure")
    }

    @Test func permanentErrorGivesUpAtOnce() async throws {
        let store = InMemoryOutboxStore()
        let transport = InMemoryTransport()
        transport.failNext(1, with: .permanent(code: 550, stage: "RCPT TO"))
        store.enqueue(self.message("m2"))
        try await self.run(self.worker(store, transport)) { store.record("m2")?.entry.attempts == 1 }
        #expect(store.record("m2")?.status == .failed(error: "SMTP server refused with 550 at RCPT TO (permanent)"))
        #expect(transport.delivered.isEmpty)
        #expect(transport.attempts == 1)
    }

    @Test func givesUpAfterMaxAttempts() async throws {
        let store = InMemoryOutboxStore()
        let transport = InMemoryTransport()
        transport.failNext(100, with: .timeout(stage: "greeting"))
        store.enqueue(self.message("m3"))
        try await self.run(self.worker(store, transport, maxAttempts: 3)) {
            if case .failed = store.record("m3")?.status { true } else { false }
        }
        #expect(store.record("m3")?.entry.attempts == 3)
        #expect(transport.attempts == 3)
    }

    @Test func wakeDeliversWithoutWaitingForThePoll() async throws {
        let store = InMemoryOutboxStore()
        let transport = InMemoryTransport()
        let worker = self.worker(store, transport, pollInterval: .seconds(3600))
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await worker.run() }
            try await Task.sleep(for: .milliseconds(100))  // the first (empty) poll has happened
            store.enqueue(self.message("m4"))
            worker.wake()
            while transport.delivered.isEmpty, ContinuousClock.now - started < .seconds(120) {
                try await Task.sleep(for: .milliseconds(10))
            }
            group.cancelAll()
        }
        #expect(transport.delivered.map(\.id) == ["m4"])
        // Delivered and cancelled well within the poll interval of an hour.
        #expect(ContinuousClock.now - started < .seconds(120))
    }

    @Test func storeLeasesEntriesSoTwoPollersNeverShareOne() async throws {
        let store = InMemoryOutboxStore(lease: .seconds(60))
        let now = Date()
        store.enqueue(self.message("a"), at: now)
        store.enqueue(self.message("b"), at: now.addingTimeInterval(-1))
        #expect(try await store.due(now: now, limit: 10).map(\.message.id) == ["b", "a"])
        #expect(try await store.due(now: now, limit: 10).isEmpty)
        // A lease that ran out (the node died mid-delivery) hands the entry out again.
        #expect(try await store.due(now: now.addingTimeInterval(61), limit: 1).count == 1)
        #expect(!store.enqueue(self.message("a")), "ids are unique")
    }
}
