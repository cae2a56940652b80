import Synchronization

/// Something that delivers one message or throws: SMTP, a directory of `.eml` files, or the
/// in-memory twin used by tests.
///
/// A transport returns only once the message is in someone else's hands (the SMTP server said
/// `250` to the data, or the file is renamed into place). Errors should be `SMTPError`, whose
/// `isPermanent` tells the delivery worker whether a retry can help; any other error counts as
/// transient.
public protocol MailTransport: Sendable {
    func deliver(_ message: MailMessage) async throws
}

/// The in-memory twin of a transport: records what it was given, and fails on demand.
public final class InMemoryTransport: MailTransport {
    private struct State {
        var delivered: [MailMessage] = []
        var attempts = 0
        var failures: [SMTPError] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Messages delivered so far, in order.
    public var delivered: [MailMessage] { self.state.withLock { $0.delivered } }

    /// Calls to `deliver`, failed ones included.
    public var attempts: Int { self.state.withLock { $0.attempts } }

    /// Makes the next `count` deliveries throw `error` (transient by default).
    public func failNext(_ count: Int, with error: SMTPError = .connection("simulated failure")) {
        self.state.withLock { $0.failures += Array(repeating: error, count: count) }
    }

    public func deliver(_ message: MailMessage) async throws {
        try self.state.withLock { state throws(SMTPError) in
            state.attempts += 1
            if !state.failures.isEmpty { throw state.failures.removeFirst() }
            state.delivered.append(message)
        }
    }
}
