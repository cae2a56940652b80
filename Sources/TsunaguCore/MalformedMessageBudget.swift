/// docs/protocol.md §5: "A connection that sends more than 20 malformed messages within a minute is
/// closed with 1008." A sliding window over the times of recent malformed messages.
public struct MalformedMessageBudget: Sendable {
    public let limit: Int
    public let windowMillis: Int64
    private var recent: [Int64] = []

    public init(limit: Int = 20, windowMillis: Int64 = 60_000) {
        self.limit = limit
        self.windowMillis = windowMillis
    }

    /// Records one malformed message at `nowMillis`; returns false once the budget is exceeded.
    public mutating func record(nowMillis: Int64) -> Bool {
        recent.removeAll { nowMillis - $0 >= windowMillis }
        recent.append(nowMillis)
        return recent.count <= limit
    }
}
