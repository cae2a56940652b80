import NIOCore

/// How long a resilient connection waits before its next attempt: a random 50–200 ms, doubled after
/// every failed attempt, capped at 5 s. The jitter keeps thousands of clients that lost the same node
/// from arriving at the next one in the same millisecond.
struct ReconnectBackoff {
    private(set) var failedAttempts = 0

    mutating func nextDelay() -> TimeAmount {
        let base = Int64.random(in: 50...200) << Int64(min(failedAttempts, 6))
        failedAttempts += 1
        return .milliseconds(min(base, 5000))
    }

    /// The connection is back: the next loss starts from the short delay again.
    mutating func reset() {
        failedAttempts = 0
    }
}
