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
