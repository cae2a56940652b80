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

/// The verdict over all subscribers.
public struct LossReport: Sendable, Equatable {
    public var missing = 0
    public var duplicates = 0
    public var outOfOrder = 0
    /// Subscriptions checked.
    public var subscriptions = 0
    public var passed: Bool { missing == 0 && duplicates == 0 && outOfOrder == 0 }

    public init(missing: Int = 0, duplicates: Int = 0, outOfOrder: Int = 0, subscriptions: Int = 0) {
        self.missing = missing
        self.duplicates = duplicates
        self.outOfOrder = outOfOrder
        self.subscriptions = subscriptions
    }

    public static func + (a: LossReport, b: LossReport) -> LossReport {
        LossReport(missing: a.missing + b.missing, duplicates: a.duplicates + b.duplicates,
                   outOfOrder: a.outOfOrder + b.outOfOrder, subscriptions: a.subscriptions + b.subscriptions)
    }
}

/// Checks delivery against acknowledgements: every subscriber of a timeline must hold every seq from
/// its start up to the highest acknowledged post (and up to the highest seq it saw: a gap below what
/// arrived is a loss too), with no duplicates and nothing out of order.
public enum LossChecker {
    /// - Parameters:
    ///   - subscriptions: each subscription's timeline and tracker.
    ///   - highestAcked: per timeline, the highest seq an `ok` to a post carried.
    public static func check<S: Sequence>(_ subscriptions: S, highestAcked: [String: Int]) -> LossReport
    where S.Element == (timeline: String, tracker: SeqTracker) {
        var report = LossReport()
        for (timeline, tracker) in subscriptions {
            report = report + check(tracker, highestAcked: highestAcked[timeline])
        }
        return report
    }

    /// One subscription.
    public static func check(_ tracker: SeqTracker, highestAcked: Int?) -> LossReport {
        LossReport(missing: tracker.missing(through: highestAcked ?? tracker.after),
                   duplicates: tracker.duplicates, outOfOrder: tracker.outOfOrder, subscriptions: 1)
    }
}
