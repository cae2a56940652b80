/// Where a new subscription's delivery starts, from the client's `since` and the head it read.
public struct SubscribeCursor: Sendable, Equatable {
    /// Deliver every event after this seq.
    public var after: Int64
    /// The client holds more than the timeline has (the store was restored from an older
    /// backup): it must drop what it holds and reload. Nothing is skipped or renumbered silently.
    public var reset: Bool

    /// `since` nil means "from now": the head.
    public init(since: Int64?, head: Int64) {
        if let since, since <= head {
            self.after = max(0, since)
            self.reset = false
        } else {
            self.after = head
            self.reset = (since ?? 0) > head
        }
    }
}
