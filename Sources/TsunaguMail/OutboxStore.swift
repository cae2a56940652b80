import Foundation

/// One queued message and how many delivery attempts it has had.
public struct OutboxEntry: Sendable, Equatable {
    public var message: MailMessage
    /// Failed attempts so far (0 for a new entry).
    public var attempts: Int

    public init(message: MailMessage, attempts: Int = 0) {
        self.message = message
        self.attempts = attempts
    }
}

/// Where queued mail waits until it is delivered: the hub's store implements it (durably, so
/// mail survives restarts and mail-server outages); `InMemoryOutboxStore` is the twin for tests.
///
/// Contract for implementations:
/// - `due` returns pending entries whose next attempt is at or before `now`, oldest first, and
///   leases them: an entry returned by `due` is not returned again until it is marked, or until a
///   lease of several minutes runs out (a node that died mid-delivery). With several nodes each
///   running a worker, that lease is what keeps two nodes from sending the same message.
/// - `markSent` and `markFailed` end the lease. `markFailed` with `permanent: true` takes the
///   entry out of the queue for good (kept for the admin screen); otherwise it is due again at
///   `nextAttempt`. `error` is a short description without message content (see `SMTPError`).
public protocol OutboxStore: Sendable {
    func due(now: Date, limit: Int) async throws -> [OutboxEntry]
    func markSent(_ id: String, at: Date) async throws
    func markFailed(_ id: String, attempts: Int, nextAttempt: Date, error: String, permanent: Bool) async throws
}
