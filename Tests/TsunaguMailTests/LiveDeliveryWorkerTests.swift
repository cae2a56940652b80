import Foundation
import Logging
import NIOPosix
import Testing

@testable import TsunaguMail

/// The worker, the SMTP transport and a real server: the outage the outbox exists for.
@Suite("Mail delivery worker against aiosmtpd",
       .disabled(if: AiosmtpdServer.skipRequested, "TSUNAGU_SKIP_SMTP=1"))
struct LiveDeliveryWorkerTests {
    @Test func mailQueuedDuringAnOutageIsDeliveredExactlyOnceWhenTheServerReturns() async throws {
        try AiosmtpdServer.checkAiosmtpd()
        let port = try await FreePort.pick()  // nothing listens here yet: the mail server is down
        var configuration = SMTPConfiguration(host: "127.0.0.1", port: port, heloName: "hub.tsunagu.test")
        configuration.commandTimeout = .seconds(5)
        let transport = SMTPTransport(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton)

        let store = InMemoryOutboxStore()
        let ids = ["invite-1", "invite-2", "invite-3"]
        for id in ids {
            store.enqueue(MailMessage(id: id, from: "noreply@tsunagu.example", to: "\(id)@clinic.example",
                                      subject: "招待: \(id)", textBody: "Join: https://tsunagu.example/i/\(id)\n"))
        }
        let worker = MailDeliveryWorker(store: store, transport: transport, pollInterval: .milliseconds(50),
                                        backoff: { _ in .milliseconds(100) }, logger: Logger(label: "test.mail.worker"))

        var server: AiosmtpdServer?
        defer { server?.stop() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await worker.run() }

            // Every entry fails at least twice against the closed port and is rescheduled.
            try await Self.waitUntil("three entries retried") { store.records.allSatisfy { $0.entry.attempts >= 2 } }
            #expect(store.records.allSatisfy {
                if case .sent = $0.status { false } else { !($0.lastError ?? "").isEmpty }
            })
            #expect(store.records.allSatisfy { $0.lastError?.hasPrefix("SMTP connection failed: cannot connect to 127.0.0.1") == true })

            var options = AiosmtpdServer.Options()
            options.port = port
            server = try await AiosmtpdServer(options)
            try await Self.waitUntil("all sent") {
                store.records.allSatisfy { if case .sent = $0.status { true } else { false } }
            }
            // A few more polls: nothing is sent again.
            try await Task.sleep(for: .milliseconds(300))
            group.cancelAll()
        }

        let delivered = try #require(server).decodedMessages()
        #expect(delivered.count == 3)
        #expect(Set(delivered.compactMap { $0["Message-ID"] }) == Set(ids.map { "<\($0)@tsunagu.example>" }))
        #expect(Set(delivered.compactMap { $0["Subject"] }) == Set(ids.map { "招待: \($0)" }))
    }

    /// Two minutes: what is judged is that nothing is lost or sent twice, not how fast. Early in a
    /// full run, with every suite starting on two cores, one refused connection attempt took 3–7 s
    /// and six of them did not fit in 30 s.
    static func waitUntil(_ what: String, timeout: Duration = .seconds(120), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting: \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
