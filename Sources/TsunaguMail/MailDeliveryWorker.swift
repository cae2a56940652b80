import Foundation
import Logging

/// Delivers the outbox: every poll interval, and whenever `wake()` is called, it takes the due
/// entries, delivers each through the transport, and marks it sent, or schedules a retry with
/// exponential backoff, or gives up after `maxAttempts` or on a permanent (5xx) error.
///
/// Lifecycle follows swift-service-lifecycle: `init` starts nothing; `run()` does the work until
/// its task is cancelled (the node's service group cancels it on shutdown). Entries are
/// delivered one at a time: mail is not latency-critical beyond "now rather than in 2 s", and
/// one SMTP session at a time is polite to the relay.
public final class MailDeliveryWorker: Sendable {
    private let store: any OutboxStore
    private let transport: any MailTransport
    private let pollInterval: Duration
    private let maxAttempts: Int
    private let batchSize: Int
    private let backoff: @Sendable (Int) -> Duration
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let wakeSignal = WakeSignal()

    /// - Parameters:
    ///   - maxAttempts: attempts before an entry is given up (marked failed permanently).
    ///   - batchSize: entries taken from the store per poll.
    ///   - backoff: delay before the next attempt, given the number of failed attempts so far;
    ///     `MailDeliveryWorker.backoff(attempt:)` unless a test wants it tiny.
    ///   - now: the clock for `due`/`mark…` timestamps.
    public init(store: any OutboxStore, transport: any MailTransport, pollInterval: Duration = .seconds(2),
                maxAttempts: Int = 20, batchSize: Int = 50,
                backoff: @escaping @Sendable (Int) -> Duration = MailDeliveryWorker.backoff(attempt:),
                now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) {
        self.store = store
        self.transport = transport
        self.pollInterval = pollInterval
        self.maxAttempts = max(1, maxAttempts)
        self.batchSize = max(1, batchSize)
        self.backoff = backoff
        self.now = now
        self.logger = logger
    }

    /// Runs until the calling task is cancelled. Store errors are logged and retried at the next
    /// poll: an unavailable store must not end the worker.
    public func run() async {
        self.logger.info("mail delivery worker started")
        while !Task.isCancelled {
            var delivered = 0
            do {
                delivered = try await self.processDueEntries()
            } catch {
                self.logger.error("mail outbox poll failed", metadata: ["mail.error": "\(error)"])
            }
            // A full batch means more may be due: go again at once instead of sleeping.
            if delivered < self.batchSize {
                await self.waitForPollOrWake()
            }
        }
        self.logger.info("mail delivery worker stopped")
    }

    /// Makes the running worker poll now (e.g. right after a message is enqueued).
    public func wake() {
        self.wakeSignal.signal()
    }

    /// One poll: returns how many entries were taken from the store.
    func processDueEntries() async throws -> Int {
        let entries = try await self.store.due(now: self.now(), limit: self.batchSize)
        for entry in entries {
            if Task.isCancelled { break }
            await self.attempt(entry)
        }
        return entries.count
    }

    private func attempt(_ entry: OutboxEntry) async {
        let message = entry.message
        var logger = self.logger
        logger[metadataKey: "mail.id"] = "\(message.id)"
        logger[metadataKey: "mail.to.domain"] = "\(MailAddress.domain(of: message.to))"
        logger[metadataKey: "mail.attempt"] = "\(entry.attempts + 1)"
        do {
            try await self.transport.deliver(message)
        } catch {
            // Shutdown interrupted the session: that says nothing about the message, so do not
            // count an attempt; the store's lease hands it out again after a restart.
            if Task.isCancelled { return }
            await self.recordFailure(of: entry, error: error, logger: logger)
            return
        }
        do {
            try await self.store.markSent(message.id, at: self.now())
            logger.info("mail sent")
        } catch {
            // The server has the message; if this mark is lost, the lease expires and it is sent
            // again. At-least-once is the best any outbox can do across two systems.
            logger.error("mail sent but not marked in the outbox", metadata: ["mail.error": "\(error)"])
        }
    }

    private func recordFailure(of entry: OutboxEntry, error: any Error, logger: Logger) async {
        let attempts = entry.attempts + 1
        let smtpError = error as? SMTPError
        let permanent = smtpError?.isPermanent ?? false
        let givingUp = permanent || attempts >= self.maxAttempts
        let delay = self.backoff(attempts)
        let nextAttempt = self.now().addingTimeInterval(delay.timeInterval)
        // Only SMTPError texts are known to be free of message content; others are reduced to a type name.
        let description = smtpError.map(\.description) ?? "\(type(of: error))"
        var logger = logger
        logger[metadataKey: "mail.error"] = "\(description)"
        if givingUp {
            logger.error("mail delivery given up", metadata: ["mail.permanent": "\(permanent)"])
        } else {
            logger.warning("mail delivery failed; will retry", metadata: ["mail.retry_in": "\(delay)"])
        }
        do {
            try await self.store.markFailed(entry.message.id, attempts: attempts, nextAttempt: nextAttempt,
                                            error: description, permanent: givingUp)
        } catch {
            logger.error("mail failure not recorded in the outbox", metadata: ["mail.store_error": "\(error)"])
        }
    }

    private func waitForPollOrWake() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: self.pollInterval) }
            group.addTask { await self.wakeSignal.wait() }
            await group.next()
            group.cancelAll()
        }
    }
}
