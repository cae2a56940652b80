import Logging
import NIOCore
import Synchronization
import TsunaguCore
import TsunaguRealtime

/// Runs the node's feeds: one `FeedStateMachine` per subscribed timeline decides what goes where;
/// the hub carries it out. Each event is serialized once for the node (`FeedFrame`), and the live
/// subscriptions are grouped by event loop ("lanes") so that one event costs one task per loop,
/// never a hop or an allocation per subscriber.
///
/// Actions that hand frames to event loops run while the feeds' lock is held, so two publishers
/// cannot reorder a timeline's frames between the lock and the loops' queues. Store reads (gap
/// repair, catch-up after `since`) run as tasks outside the lock, at most one per timeline.
final class SubscriptionHub: Sendable {
    typealias Machine = FeedStateMachine<FeedFrame, Subscription>

    /// Live subscriptions on one event loop.
    private struct Lane {
        let loop: any EventLoop
        var subscriptions: [Subscription]
    }

    private struct Feed {
        var machine = Machine()
        var lanes: [Lane] = []
    }

    private let feeds = Mutex<[TimelineID: Feed]>([:])
    private let log: any EventLog
    private let time: WireTime
    private let logger: Logger
    /// Where hold timers run.
    private let timerLoop: any EventLoop
    /// How long an event committed here waits for the one before it (published by a racing task)
    /// before the gap is read from the store.
    private let holdTime: TimeAmount = .milliseconds(20)
    /// Called for each store read, with its duration and whether it delivered events (metrics).
    private let onRead: @Sendable (_ seconds: Double, _ delivered: Bool) -> Void
    /// Called on each event loop, once per live event, as its frame is handed to that loop's
    /// subscribers, with the seconds since its commit (metrics; never per subscriber).
    private let onDeliver: @Sendable (_ seconds: Double, _ loop: any EventLoop) -> Void

    init(log: any EventLog, time: WireTime, logger: Logger, timerLoop: any EventLoop,
         onRead: @escaping @Sendable (_ seconds: Double, _ delivered: Bool) -> Void = { _, _ in },
         onDeliver: @escaping @Sendable (_ seconds: Double, _ loop: any EventLoop) -> Void = { _, _ in }) {
        self.log = log
        self.time = time
        self.logger = logger
        self.timerLoop = timerLoop
        self.onRead = onRead
        self.onDeliver = onDeliver
    }

    // MARK: subscriptions

    /// Registers a subscription before its head is read: nothing committed after that read can
    /// pass it by. It receives nothing until `start`.
    func join(_ subscription: Subscription) {
        feeds.withLock { $0[subscription.timeline, default: Feed()].machine.join(subscription) }
    }

    /// The subscription's reply went out: deliver everything after `cursor`, then live events.
    func start(_ subscription: Subscription, after cursor: Int64, head: Int64) {
        let timeline = subscription.timeline
        var reads: [Read] = []
        feeds.withLock { feeds in
            guard feeds[timeline] != nil else { return }
            let actions = feeds[timeline]!.machine.start(subscription, after: cursor, head: head)
            run(actions, on: &feeds[timeline]!, timeline, reads: &reads)
        }
        startReads(reads)
    }

    // The feeds are changed in place (`feeds[timeline]!…`): copying a feed out of the dictionary
    // and back would copy its lanes on every change, which made connecting n subscribers to one
    // timeline cost O(n²).
    func remove(_ subscription: Subscription) {
        feeds.withLock { feeds in
            let timeline = subscription.timeline
            guard feeds[timeline] != nil else { return }
            feeds[timeline]!.machine.remove(subscription)
            let loop = subscription.eventLoop
            for index in feeds[timeline]!.lanes.indices where feeds[timeline]!.lanes[index].loop === loop {
                if let position = feeds[timeline]!.lanes[index].subscriptions.lastIndex(where: { $0 === subscription }) {
                    feeds[timeline]!.lanes[index].subscriptions.remove(at: position)
                }
            }
            feeds[timeline]!.lanes.removeAll { $0.subscriptions.isEmpty }
            if feeds[timeline]!.machine.isEmpty { feeds[timeline] = nil }
        }
    }

    /// `user` left `timeline`: their started subscriptions to it end with `forbidden` (a
    /// revocation read from the store; the member/leave event does the same when it arrives).
    func memberRemoved(timeline: TimelineID, user: UserID) {
        let affected = feeds.withLock { feeds in
            feeds[timeline]?.machine.startedSubscribers.filter { $0.user == user } ?? []
        }
        for subscription in affected { subscription.eventLoop.execute { subscription.removedFromTimeline() } }
    }

    func subscribedTimelines() -> [TimelineID] { feeds.withLock { Array($0.keys) } }

    var subscriptionCount: Int { feeds.withLock { $0.values.reduce(0) { $0 + $1.machine.subscriberCount } } }

    // MARK: what the node learns

    /// Whether anybody on this node follows `timeline` (else its events need no frame here).
    func follows(_ timeline: TimelineID) -> Bool { feeds.withLock { $0[timeline] != nil } }

    /// A committed event with its frame: made here (`NodeContext.committed`, once for this node
    /// and its peers), or received from the node that committed it.
    func publish(_ timeline: TimelineID, seq: Int64, frame: FeedFrame) {
        update(timeline) { $0.committed(seq: seq, frame: frame) }
    }

    /// The timeline has at least `seq` committed elsewhere (a peer's announcement without a
    /// frame, the sweep): what is missing is read from the store at once.
    func heard(timeline: TimelineID, seq: Int64) {
        update(timeline) { $0.heard(seq: seq) }
    }

    /// The store notified a commit of up to `seq`: its frames are most likely on their way over
    /// the committing node's peer link, so the store is read only if they have not come within
    /// the hold time.
    func noticed(timeline: TimelineID, seq: Int64) {
        update(timeline) { $0.noticed(seq: seq) }
    }

    func publishReceipt(timeline: TimelineID, user: UserID, profession: Profession?, seq: Int64) {
        guard feeds.withLock({ $0[timeline] != nil }) else { return }
        let frame = FeedFrame(receipt: timeline, user: user, profession: profession, seq: seq)
        update(timeline) { $0.receipt(frame) }
    }

    /// Compares every locally subscribed timeline with the store's head: covers lost peer
    /// messages, dropped links and silent peers. Run every second (`RepairSweep`).
    func sweep() async {
        let timelines = subscribedTimelines()
        guard !timelines.isEmpty else { return }
        do {
            for (timeline, head) in try await log.heads(of: timelines) { heard(timeline: timeline, seq: head) }
        } catch {
            logger.warning("repair sweep failed", metadata: ["tsunagu.error": "\(error)"])
        }
    }

    // MARK: carrying out the machine's actions

    private struct Read {
        let timeline: TimelineID
        let after: Int64
        let through: Int64
        let limit: Int
    }

    private func update(_ timeline: TimelineID, _ input: (inout Machine) -> [Machine.Action]) {
        var reads: [Read] = []
        feeds.withLock { feeds in
            guard feeds[timeline] != nil else { return }
            let actions = input(&feeds[timeline]!.machine)
            run(actions, on: &feeds[timeline]!, timeline, reads: &reads)
        }
        startReads(reads)
    }

    /// Under the feeds' lock.
    private func run(_ actions: [Machine.Action], on feed: inout Feed, _ timeline: TimelineID, reads: inout [Read]) {
        for action in actions {
            switch action {
            case .release(_, let frame), .broadcast(let frame):
                let onDeliver = self.onDeliver
                for lane in feed.lanes {
                    let subscriptions = lane.subscriptions
                    let loop = lane.loop
                    loop.execute {
                        if let committed = frame.committedAtMillis {
                            onDeliver(Double(max(0, WireTime.nowMillis() - committed)) / 1000, loop)
                        }
                        for subscription in subscriptions { subscription.receive(frame) }
                    }
                }
            case .deliver(let frames, let subscription):
                subscription.eventLoop.execute {
                    for frame in frames { subscription.receive(frame) }
                }
            case .goLive(let subscription):
                let loop = subscription.eventLoop
                if let index = feed.lanes.firstIndex(where: { $0.loop === loop }) {
                    feed.lanes[index].subscriptions.append(subscription)
                } else {
                    feed.lanes.append(Lane(loop: loop, subscriptions: [subscription]))
                }
            case .read(let after, let through, let limit):
                reads.append(Read(timeline: timeline, after: after, through: through, limit: limit))
            case .armHoldTimer:
                timerLoop.scheduleTask(in: holdTime) { [self] in update(timeline) { $0.holdExpired() } }
            }
        }
    }

    private func startReads(_ reads: [Read]) {
        for read in reads { Task { await self.perform(read) } }
    }

    /// Reads a range from the store and hands it to the feed, each event serialized once for
    /// every subscriber that needs it.
    private func perform(_ read: Read) async {
        do {
            let started = ContinuousClock.now
            let events = try await log.events(timeline: read.timeline, after: read.after, through: read.through,
                                              limit: read.limit)
            let elapsed = ContinuousClock.now - started
            onRead(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, !events.isEmpty)
            let frames = events.map { (seq: $0.seq, frame: FeedFrame(event: $0, time: time)) }
            update(read.timeline) { $0.readCompleted(after: read.after, through: read.through, events: frames) }
        } catch {
            logger.warning("store read for a feed failed", metadata: ["tsunagu.error": "\(error)"])
            let stranded = feeds.withLock { feeds in feeds[read.timeline]?.machine.readFailed() ?? [] }
            // The store is unreachable: these clients resume with `since` once it is back.
            for subscription in stranded {
                subscription.eventLoop.execute { subscription.stop(.storeUnavailable) }
            }
        }
    }
}
