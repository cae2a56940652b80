import Synchronization

/// A write queued for the next group commit (`GroupCommitter.submit`), whose result is awaited
/// later. A connection queues its consecutive posts this way, in the order they came, and answers
/// them in that order: awaited one by one, each post waited for the commit of the one before, so a
/// client with many posts in flight had one post in each commit (docs/architecture.md, "Posts in
/// flight").
public final class QueuedWrite<T: Sendable>: Sendable {
    private enum State {
        case pending(CheckedContinuation<T, any Error>?)
        case done(Result<T, any Error>)
    }

    private let state = Mutex(State.pending(nil))

    init() {}

    /// Called once by the committer: after the write's transaction committed, or with its error.
    func complete(_ result: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard case .pending(let waiter) = state else { preconditionFailure("a queued write completes once") }
            state = .done(result)
            return waiter
        }
        waiter?.resume(with: result)
    }

    /// The write's result, once its transaction has committed. Awaited once.
    public var value: T {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let done = state.withLock { state -> Result<T, any Error>? in
                    switch state {
                    case .done(let result):
                        return result
                    case .pending(let waiter):
                        precondition(waiter == nil, "a queued write is awaited once")
                        state = .pending(continuation)
                        return nil
                    }
                }
                if let done { continuation.resume(with: done) }
            }
        }
    }
}
