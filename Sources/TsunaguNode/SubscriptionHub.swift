import Logging
import NIOCore
import Synchronization
import TsunaguCore
import TsunaguStore
import TsunaguWebSocket

/// What the hub hands a subscription.
enum Delivery {
    /// An event, serialized once for the whole node. `leaving` is the user a member/leave event
    /// removes: that user's subscriptions end after delivering it.
    case event(seq: Int64, frame: SharedFrame, leaving: UserID?)
    /// A read marker moved; receipts have no seq of their own.
    case receipt(SharedFrame)
}

/// Routes committed events to this node's subscriptions. Each event is serialized once, and the
/// subscriptions are grouped by event loop so that one event costs one task per loop, never a hop
/// or an allocation per subscriber. Per timeline the hub releases events in seq order: one that
/// arrives ahead of a missing seq (two posts committed back to back and published by racing tasks)
/// is held briefly; if the missing one does not come, it is released anyway and each subscription
/// repairs the gap from the store.
final class SubscriptionHub: Sendable {
    private struct LoopGroup {
        let loop: any EventLoop
        var subscriptions: [Subscription]
    }

    private struct Feed {
        var groups: [LoopGroup] = []
        var lastReleased: Int64?
        var held: [Int64: Delivery] = [:]
        var holdDeadlineScheduled = false
        var isEmpty: Bool { groups.isEmpty }

        /// Runs `body` on the feed where it is stored (through the dictionary's in-place accessor).
        mutating func withInPlace(_ body: (inout Feed) -> Void) { body(&self) }
    }

    private let feeds = Mutex<[TimelineID: Feed]>([:])
    private let sessions = Mutex<[SessionID: SessionClients]>([:])
    let repairs = Mutex<[TimelineID: RepairState]>([:])
    let store: HubStore
    private let time: WireTime
    let logger: Logger
    private let holdTime: TimeAmount = .milliseconds(20)
    /// Called for each store read that delivered events committed elsewhere (metrics).
    let onRepairRead: @Sendable () -> Void

    init(store: HubStore, time: WireTime, logger: Logger, onRepairRead: @escaping @Sendable () -> Void = {}) {
        self.store = store
        self.time = time
        self.logger = logger
        self.onRepairRead = onRepairRead
    }

    // MARK: subscriptions

    // The feeds are changed in place (`feeds[timeline, default:]`, `feeds[timeline]?`): copying a
    // feed out of the dictionary and back would copy its subscriber array on every change, which
    // made connecting n subscribers to one timeline cost O(n²).

    func add(_ subscription: Subscription) {
        feeds.withLock { feeds in
            let loop = subscription.eventLoop
            var added = false
            feeds[subscription.timeline, default: Feed()].groups.withIndices { groups, index in
                guard !added, groups[index].loop === loop else { return }
                groups[index].subscriptions.append(subscription)
                added = true
            }
            if !added {
                feeds[subscription.timeline, default: Feed()].groups.append(
                    LoopGroup(loop: loop, subscriptions: [subscription]))
            }
        }
    }

    func remove(_ subscription: Subscription) {
        feeds.withLock { feeds in
            guard feeds[subscription.timeline] != nil else { return }
            let loop = subscription.eventLoop
            feeds[subscription.timeline]!.groups.withIndices { groups, index in
                guard groups[index].loop === loop else { return }
                if let position = groups[index].subscriptions.lastIndex(where: { $0 === subscription }) {
                    groups[index].subscriptions.remove(at: position)
                }
            }
            feeds[subscription.timeline]!.groups.removeAll { $0.subscriptions.isEmpty }
            if feeds[subscription.timeline]!.isEmpty { feeds[subscription.timeline] = nil }
        }
    }

    /// nil when no local subscription follows the timeline; .some(nil) when one does but nothing
    /// has been released yet.
    func lastReleased(_ timeline: TimelineID) -> Int64?? {
        feeds.withLock { feeds in feeds[timeline].map { $0.lastReleased } }
    }

    func subscribedTimelines() -> [TimelineID] { feeds.withLock { Array($0.keys) } }

    /// Sets where the timeline's releases start when nothing was released yet: the head a new
    /// subscription read after registering (everything up to it comes from its replay).
    func anchor(_ timeline: TimelineID, at head: Int64) {
        feeds.withLock { feeds in
            guard feeds[timeline]?.lastReleased == nil else { return }
            feeds[timeline]?.withInPlace { feed in
                feed.lastReleased = head
                for seq in feed.held.keys.sorted() where seq <= head { feed.held[seq] = nil }
                while let last = feed.lastReleased, let next = feed.held.removeValue(forKey: last + 1) {
                    Self.release(next, seq: last + 1, in: &feed)
                }
            }
        }
    }

    var subscriptionCount: Int {
        feeds.withLock { $0.values.reduce(0) { $0 + $1.groups.reduce(0) { $0 + $1.subscriptions.count } } }
    }

    // MARK: publishing

    /// Hands a committed event to every local subscription of its timeline, in seq order.
    func publish(_ event: TimelineEvent) {
        var leaving: UserID?
        if case .member(let user, .leave, _) = event.payload { leaving = user.id }
        let frame = SharedFrame(text: ByteBuffer(bytes: ServerMessage.event(event, time: time)))
        let delivery = Delivery.event(seq: event.seq, frame: frame, leaving: leaving)
        var scheduleRelease: (any EventLoop)?
        feeds.withLock { feeds in
            feeds[event.timeline]?.withInPlace { feed in
                if let last = feed.lastReleased {
                    if event.seq <= last { return }
                    if event.seq > last + 1 {
                        feed.held[event.seq] = delivery
                        if !feed.holdDeadlineScheduled {
                            feed.holdDeadlineScheduled = true
                            scheduleRelease = feed.groups.first?.loop
                        }
                        return
                    }
                }
                Self.release(delivery, seq: event.seq, in: &feed)
                while let last = feed.lastReleased, let next = feed.held.removeValue(forKey: last + 1) {
                    Self.release(next, seq: last + 1, in: &feed)
                }
            }
        }
        if let loop = scheduleRelease {
            let timeline = event.timeline
            loop.scheduleTask(in: holdTime) { [self] in releaseHeld(timeline) }
        }
    }

    /// The missing seq did not arrive in time: release what is held, in order. Subscriptions see
    /// the gap and repair it from the store.
    private func releaseHeld(_ timeline: TimelineID) {
        feeds.withLock { feeds in
            feeds[timeline]?.withInPlace { feed in
                feed.holdDeadlineScheduled = false
                for seq in feed.held.keys.sorted() {
                    Self.release(feed.held.removeValue(forKey: seq)!, seq: seq, in: &feed)
                }
            }
        }
    }

    /// Enqueues on each loop while the lock is held, so that two publishers cannot reorder a
    /// timeline's events between the lock and the loops' queues.
    private static func release(_ delivery: Delivery, seq: Int64, in feed: inout Feed) {
        feed.lastReleased = max(feed.lastReleased ?? seq, seq)
        for group in feed.groups {
            let subscriptions = group.subscriptions
            group.loop.execute {
                for subscription in subscriptions { subscription.receive(delivery) }
            }
        }
    }

    func publishReceipt(timeline: TimelineID, user: UserID, seq: Int64) {
        let delivery = Delivery.receipt(SharedFrame(text: ByteBuffer(bytes: ServerMessage.receipt(
            timeline: timeline, user: user, seq: seq))))
        feeds.withLock { feeds in
            for group in feeds[timeline]?.groups ?? [] {
                let subscriptions = group.subscriptions
                group.loop.execute {
                    for subscription in subscriptions { subscription.receive(delivery) }
                }
            }
        }
    }

    // MARK: sessions

    func register(_ client: ClientSession, session: SessionRecord) {
        sessions.withLock { sessions in
            sessions[session.id, default: SessionClients(expiresAtMillis: session.expiresAtMillis)]
                .clients[ObjectIdentifier(client)] = client
        }
    }

    func unregister(_ client: ClientSession, session: SessionID) {
        sessions.withLock { sessions in
            sessions[session]?.clients[ObjectIdentifier(client)] = nil
            if sessions[session]?.clients.isEmpty == true { sessions[session] = nil }
        }
    }

    /// Closes every socket of a session that was revoked (logout) on this node.
    func endSession(_ session: SessionID) {
        let ended = sessions.withLock { $0.removeValue(forKey: session) }
        for client in ended?.clients.values ?? [:].values {
            client.terminate(code: TsunaguCloseCode.sessionEnded, reason: "session ended")
        }
    }

    /// Closes the sockets of sessions that expired: a session that expires ends its sockets too,
    /// not only its next request. Run every second by the node; one sweep for all connections
    /// instead of a timer per connection (a timer costs about 200 bytes for as long as the
    /// session lives, hours, on every idle connection).
    func endExpiredSessions(nowMillis: Int64) {
        let expired = sessions.withLock { sessions -> [ClientSession] in
            var expired: [ClientSession] = []
            for (id, entry) in sessions where entry.expiresAtMillis <= nowMillis {
                expired.append(contentsOf: entry.clients.values)
                sessions[id] = nil
            }
            return expired
        }
        for client in expired { client.terminate(code: TsunaguCloseCode.sessionEnded, reason: "session expired") }
    }
}

extension Array {
    /// Calls `body` for each index with the array itself, in place (no copy of the elements).
    fileprivate mutating func withIndices(_ body: (inout Self, Index) -> Void) {
        for index in indices { body(&self, index) }
    }
}

/// The connections of one session on this node.
struct SessionClients {
    let expiresAtMillis: Int64
    var clients: [ObjectIdentifier: ClientSession] = [:]
}
