/// One timeline's delivery on one node: decides, from what the node learns, which event frames go
/// to which subscriber and when, so that every subscriber receives every event after its cursor
/// in seq order, with no gap and no duplicate (docs/protocol.md, "Ordering and resume").
///
/// Inputs: a committed event with its frame (`committed`: through this node, or over a peer
/// link from the node that committed it), a higher seq heard of without a frame (`heard`: the
/// repair sweep's head, a peer's announcement of an event too large to carry), a commit the store
/// notified (`noticed`: its frame is probably on its way), the result of a store read
/// (`readCompleted`), a subscriber that joins (`join`, then `start` at its cursor) or leaves
/// (`remove`), a receipt (`receipt`) and the end of a hold (`holdExpired`). Each returns the
/// actions to run, in order: release a frame to the live subscribers, deliver frames to one
/// subscriber that is catching up, make a subscriber live, read a range from the store, arm the
/// hold timer.
///
/// Encode once on every path: a frame is made once per event on this node (by whoever runs the
/// actions) and the same frame goes to every subscriber, live or catching up; a store read serves
/// every subscriber that needs the range it covers, and the feed's own gap at the same time.
///
/// Pure: no I/O, no clock, no threads. The node keeps one per subscribed timeline behind a lock
/// and runs the actions while holding it, so the order in which it hands frames to each event
/// loop is the order decided here (`SubscriptionHub`).
public struct FeedStateMachine<Frame, Subscriber: Hashable> {
    public enum Action {
        /// Send `frame` (event `seq`) to every live subscriber.
        case release(seq: Int64, frame: Frame)
        /// Send these frames, in order, to one subscriber that is not live yet.
        case deliver([Frame], to: Subscriber)
        /// From now on `subscriber` receives releases: it has everything up to the released seq.
        case goLive(Subscriber)
        /// Send a receipt frame to every live subscriber (receipts have no seq; the subscribers
        /// that are not live get theirs through `deliver`).
        case broadcast(Frame)
        /// Read the events in (after, through], at most `limit`, and call `readCompleted`.
        case read(after: Int64, through: Int64, limit: Int)
        /// Call `holdExpired` after the hold time (a gap may close by itself: two commits through
        /// this node, published by racing tasks, or frames from two nodes, arrive out of order).
        case armHoldTimer
    }

    /// Events read from the store at most per read.
    public let pageSize: Int

    /// Every event up to this seq has been released to the live subscribers; nil until the first
    /// subscriber starts (its head anchors the feed).
    public private(set) var released: Int64?
    /// The highest seq known to be committed.
    public private(set) var known: Int64 = 0
    /// Frames of committed events above `released + 1`, waiting for the gap below them.
    private var held: [Int64: Frame] = [:]
    /// A store read is in flight (at most one per feed).
    private var reading = false
    private var holdTimerArmed = false
    /// Subscribers that joined and wait for their head; receipts that came meanwhile.
    private var starting: [Subscriber: [Frame]] = [:]
    /// Subscribers that started but are behind `released`: the last seq each has been given.
    private var catchingUp: [Subscriber: Int64] = [:]
    public private(set) var live: Set<Subscriber> = []

    public init(pageSize: Int = 500) {
        self.pageSize = pageSize
    }

    /// No subscriber left: the node drops the feed.
    public var isEmpty: Bool { live.isEmpty && catchingUp.isEmpty && starting.isEmpty }
    public var subscriberCount: Int { live.count + catchingUp.count + starting.count }
    /// Subscribers that have started (live or catching up); not those still waiting for their head.
    public var startedSubscribers: [Subscriber] { Array(live) + Array(catchingUp.keys) }
    /// The last seq given to `subscriber`, nil when it is starting or unknown.
    public func cursor(of subscriber: Subscriber) -> Int64? {
        if live.contains(subscriber) { return released }
        return catchingUp[subscriber]
    }

    // MARK: subscribers

    /// A subscriber registered before it reads its head, so that nothing committed after that
    /// read can pass it by. It receives nothing until `start`.
    public mutating func join(_ subscriber: Subscriber) {
        starting[subscriber] = []
    }

    /// The subscriber's reply went out: deliver everything after `cursor`, then go live. `head`
    /// is the timeline's head as the subscriber read it after joining.
    public mutating func start(_ subscriber: Subscriber, after cursor: Int64, head: Int64) -> [Action] {
        guard let receipts = starting.removeValue(forKey: subscriber) else { return [] }
        var actions: [Action] = receipts.isEmpty ? [] : [.deliver(receipts, to: subscriber)]
        known = max(known, head)
        if released == nil {
            // The first subscriber's head: everything up to it comes from its own replay.
            released = head
            held = held.filter { $0.key > head }
        }
        catchingUp[subscriber] = cursor
        advance(into: &actions, with: [:])
        pump(into: &actions)
        return actions
    }

    /// The subscriber left (unsubscribe, connection closed, slow consumer, removed member).
    public mutating func remove(_ subscriber: Subscriber) {
        starting[subscriber] = nil
        catchingUp[subscriber] = nil
        live.remove(subscriber)
        if isEmpty { held = [:] }
    }

    // MARK: what the node learns

    /// A committed event with its frame: committed through this node, or received from the node
    /// that committed it. Frames from several nodes may come out of order: a gap is held for the
    /// hold time before it is read.
    public mutating func committed(seq: Int64, frame: Frame) -> [Action] {
        known = max(known, seq)
        if let released, seq == released + 1, held.isEmpty, catchingUp.isEmpty {
            // The usual case, on the hot path: in order, nothing held, nobody behind.
            self.released = seq
            return [.release(seq: seq, frame: frame)]
        }
        var actions: [Action] = []
        if let released {
            guard seq > released else { return [] }  // already released (a repair read was first)
            advance(into: &actions, with: [seq: frame])
            if self.released! < seq {
                held[seq] = frame
                if !holdTimerArmed && !reading {
                    holdTimerArmed = true
                    actions.append(.armHoldTimer)
                }
            }
        } else {
            held[seq] = frame  // sorted out when the first subscriber starts
        }
        return actions
    }

    /// The timeline has at least `seq` committed, with no frame at hand (a peer's announcement of
    /// an event too large to carry, or the sweep's head): what this node has not released is read
    /// from the store. A seq already known still starts a read when the feed is behind with none
    /// in flight: the read for that gap failed (the store was unreachable), and the sweep's head
    /// is the retry.
    public mutating func heard(seq: Int64) -> [Action] {
        if seq > known {
            known = seq
        } else if reading || !needsRead {
            return []
        }
        var actions: [Action] = []
        pump(into: &actions)
        return actions
    }

    /// The timeline has at least `seq` committed, and its frames are probably on their way (the
    /// store's change notification, sent as another node committed: that node's peer message
    /// carries the frames). The gap is read from the store only when the hold time passes first.
    public mutating func noticed(seq: Int64) -> [Action] {
        guard seq > known else { return [] }
        known = seq
        guard let released, known > released, !reading, !holdTimerArmed else { return [] }
        holdTimerArmed = true
        return [.armHoldTimer]
    }

    /// The hold time passed: a gap that is still open is read from the store.
    public mutating func holdExpired() -> [Action] {
        holdTimerArmed = false
        var actions: [Action] = []
        pump(into: &actions)
        return actions
    }

    /// The store answered a `read(after:through:limit:)`: `events` are (seq, frame) in seq order.
    public mutating func readCompleted(after: Int64, through: Int64, events: [(seq: Int64, frame: Frame)]) -> [Action] {
        reading = false
        var actions: [Action] = []
        if events.count < pageSize, known <= through {
            // The store has nothing more in the range: what was heard beyond its head is not
            // there (yet, or any more: a store restored from an older backup). Held frames are
            // committed events, so they stay known.
            let storeHead = events.last?.seq ?? after
            if storeHead < through { known = max(storeHead, held.keys.max() ?? 0, released ?? 0) }
        }
        let given = Dictionary(events.map { ($0.seq, $0.frame) }, uniquingKeysWith: { first, _ in first })
        let moved = advance(into: &actions, with: given)
        if !moved && needsRead {
            // Nothing moved (a read that raced a commit still in flight): try again after the
            // hold time rather than at once.
            if !holdTimerArmed {
                holdTimerArmed = true
                actions.append(.armHoldTimer)
            }
        } else {
            pump(into: &actions)
        }
        return actions
    }

    /// The store read failed: the subscribers that needed it cannot be served; the caller ends
    /// them (they resume with `since` once the store is back). A gap of the live feed is tried
    /// again at the next trigger (a commit, an announcement, the sweep).
    public mutating func readFailed() -> [Subscriber] {
        reading = false
        let stranded = catchingUp.filter { $0.value < (released ?? 0) }.map(\.key)
        for subscriber in stranded { catchingUp[subscriber] = nil }
        return stranded
    }

    /// A read marker moved. Receipts have no seq: every subscriber gets it as soon as possible
    /// (a starting one right after its reply).
    public mutating func receipt(_ frame: Frame) -> [Action] {
        for subscriber in starting.keys { starting[subscriber]!.append(frame) }
        var actions: [Action] = [.broadcast(frame)]
        for subscriber in catchingUp.keys { actions.append(.deliver([frame], to: subscriber)) }
        return actions
    }

    // MARK: the one place where frames move

    /// Releases every frame contiguous after `released` (held or just given), then moves each
    /// catching-up subscriber along what is contiguous after its cursor, and makes live those
    /// that reach `released`.
    @discardableResult
    private mutating func advance(into actions: inout [Action], with given: [Int64: Frame]) -> Bool {
        guard var last = released else { return false }
        let count = actions.count
        var releasedNow: [Int64: Frame] = [:]
        while let frame = given[last + 1] ?? held.removeValue(forKey: last + 1) {
            last += 1
            actions.append(.release(seq: last, frame: frame))
            if !catchingUp.isEmpty { releasedNow[last] = frame }
        }
        released = last
        if !given.isEmpty { held = held.filter { $0.key > last } }
        for (subscriber, cursor) in catchingUp {
            var next = cursor
            var frames: [Frame] = []
            while next < last, let frame = given[next + 1] ?? releasedNow[next + 1] {
                next += 1
                frames.append(frame)
            }
            if !frames.isEmpty { actions.append(.deliver(frames, to: subscriber)) }
            if next == last {
                catchingUp[subscriber] = nil
                live.insert(subscriber)
                actions.append(.goLive(subscriber))
            } else {
                // Behind: a read brings the rest. Ahead (it read a head this node has not
                // released yet): it waits for the feed to reach its cursor.
                catchingUp[subscriber] = next
            }
        }
        return actions.count > count
    }

    /// What a read would need: a subscriber behind `released`, or a gap of the live feed whose
    /// hold time passed.
    private var needsRead: Bool {
        guard let released else { return false }
        return catchingUp.values.contains { $0 < released } || (known > released && !holdTimerArmed)
    }

    /// Starts the one read that serves every current need, from the lowest cursor on.
    private mutating func pump(into actions: inout [Action]) {
        guard !reading, needsRead, let released else { return }
        var from = catchingUp.values.filter { $0 < released }.min() ?? released
        if known > released && !holdTimerArmed { from = min(from, released) }
        let through = max(known, released)
        guard from < through else { return }
        reading = true
        actions.append(.read(after: from, through: through, limit: pageSize))
    }
}
