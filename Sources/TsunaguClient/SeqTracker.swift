/// Follows the seqs one subscriber receives on one timeline after subscribing at `after` (the head
/// the subscribe reply gave, or the `since` sent): the protocol promises every seq > `after`, in
/// order, each once. Memory stays small while delivery is in order (only seqs that arrive ahead of a
/// gap are remembered).
public struct SeqTracker: Sendable, Equatable {
    /// The last seq the subscriber had before the subscription started.
    public let after: Int
    /// Every seq in `after+1 ... contiguousThrough` has arrived.
    public private(set) var contiguousThrough: Int
    /// The highest seq that has arrived (`after` when none has).
    public private(set) var maxSeen: Int
    /// Deliveries of a seq that had already arrived (or was ≤ `after`).
    public private(set) var duplicates = 0
    /// Deliveries that came after a higher seq of the same timeline.
    public private(set) var outOfOrder = 0
    /// Distinct seqs received.
    public private(set) var received = 0
    private var ahead: Set<Int> = []

    public init(after: Int) {
        self.after = after
        self.contiguousThrough = after
        self.maxSeen = after
    }

    public mutating func record(_ seq: Int) {
        if seq <= contiguousThrough || ahead.contains(seq) {
            duplicates += 1
            return
        }
        received += 1
        if seq < maxSeen { outOfOrder += 1 }
        maxSeen = max(maxSeen, seq)
        if seq == contiguousThrough + 1 {
            contiguousThrough = seq
            while !ahead.isEmpty, ahead.remove(contiguousThrough + 1) != nil {
                contiguousThrough += 1
            }
        } else {
            ahead.insert(seq)
        }
    }

    /// Whether `seq` has arrived.
    public func has(_ seq: Int) -> Bool {
        (seq > after && seq <= contiguousThrough) || ahead.contains(seq)
    }

    /// How many seqs in `after+1 ... max(through, maxSeen)` have not arrived.
    public func missing(through: Int) -> Int {
        let upper = max(through, maxSeen)
        return max(0, upper - contiguousThrough - ahead.count)
    }
}
