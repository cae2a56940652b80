/// The monitors' sliding windows, one per rule and key (an organization or an account): counts
/// what happened within each rule's window and says when a rule fires. Pure: the caller passes
/// the time, so tests script whole days in microseconds.
///
/// A rule fires when its count reaches the threshold, then stays silent for one window for that
/// key (one alert per burst, not one per event). A rule whose trigger needs confirming against
/// the store (patient reads: are those timelines patient timelines?) is re-armed by
/// `unconfirmed`, to fire again once the count has grown by a tenth of the threshold.
struct MonitorWindows {
    struct Trigger: Equatable {
        let rule: MonitorRule
        let key: String
        let observed: Int
        /// For rules that count distinct timelines: the ones within the window.
        let items: [String]
    }

    private struct Window {
        /// Times of the events within the window, oldest first (counting rules).
        var times: [Int64] = []
        /// Each distinct item's latest time (distinct rules).
        var lastSeen: [String: Int64] = [:]
        var silentUntil: Int64 = 0
        /// The count at which the rule may fire next, after an unconfirmed trigger.
        var nextCheck = 0
        var newest: Int64 = 0
    }

    let thresholds: MonitorThresholds
    private var windows: [String: Window] = [:]
    private var observations = 0

    init(thresholds: MonitorThresholds) { self.thresholds = thresholds }

    /// Records one event for `key` (with the timeline it concerns, for distinct rules) at `now`.
    mutating func observe(_ rule: MonitorRule, key: String, item: String? = nil, at now: Int64) -> Trigger? {
        let threshold = thresholds[rule]
        let cutoff = now - threshold.windowMillis
        let id = rule.rawValue + ":" + key
        var window = windows.removeValue(forKey: id) ?? Window()
        defer {
            windows[id] = window
            observations += 1
            if observations % 4096 == 0 { forgetQuiet(now: now) }
        }
        window.newest = now
        let count: Int
        if rule.countsDistinct, let item {
            window.lastSeen[item] = now
            // Expired items are dropped only when they might matter: a trigger is near.
            if window.lastSeen.count >= threshold.count { window.lastSeen = window.lastSeen.filter { $0.value > cutoff } }
            count = window.lastSeen.count
        } else {
            window.times.append(now)
            let expired = window.times.firstIndex { $0 > cutoff } ?? window.times.count
            window.times.removeFirst(expired)
            // A flood cannot grow memory without bound: past four thresholds the count is enough.
            if window.times.count > threshold.count * 4 { window.times.removeFirst(window.times.count - threshold.count * 4) }
            count = window.times.count
        }
        if count < threshold.count { window.nextCheck = 0 }
        guard count >= max(threshold.count, window.nextCheck), now >= window.silentUntil else { return nil }
        window.silentUntil = now + threshold.windowMillis
        return Trigger(rule: rule, key: key, observed: count,
                       items: rule.countsDistinct ? window.lastSeen.keys.sorted() : [])
    }

    /// The trigger did not hold up (too few of the timelines were patient timelines): fire again
    /// once the count has grown by a tenth of the threshold.
    mutating func unconfirmed(_ trigger: Trigger) {
        let id = trigger.rule.rawValue + ":" + trigger.key
        guard windows[id] != nil else { return }
        windows[id]!.silentUntil = 0
        windows[id]!.nextCheck = trigger.observed + max(1, thresholds[trigger.rule].count / 10)
    }

    /// How many keys are tracked (tests: memory stays bounded).
    var trackedKeys: Int { windows.count }

    /// Drops the windows of keys quiet for longer than their rule's window.
    private mutating func forgetQuiet(now: Int64) {
        let longest = MonitorRule.allCases.map { thresholds[$0].windowMillis }.max() ?? 0
        windows = windows.filter { $0.value.newest > now - longest || $0.value.silentUntil > now }
    }
}
