import NIOCore
import TsunaguCore
import TsunaguStore
import TsunaguWebSocket

/// One timeline subscribed on one connection. It guarantees the client's view of PROTOCOL.md §2:
/// every event with seq > since, in order, no gap, no duplicate. Confined to its connection's event
/// loop (every method runs there), hence `@unchecked Sendable`.
///
/// It is either *live* (sends an event whose seq is lastSent + 1, drops older ones) or *catching
/// up*: reading a range from the store while live deliveries wait in `pending`. The first catch-up
/// is the replay after `subscribe` with `since`; later ones repair gaps.
final class Subscription: @unchecked Sendable {
    let timeline: TimelineID
    let user: UserID
    let connection: WebSocketConnection
    var eventLoop: any EventLoop { connection.eventLoop }
    private let store: HubStore
    private let time: WireTime
    private let onEnd: @Sendable (Subscription) -> Void

    private var lastSent: Int64 = 0
    private var catchingUp = true
    private var pending: [Delivery] = []
    private var ended = false
    private static let pageSize = 500
    /// Deliveries held while catching up, at most; beyond that the client is too far behind.
    private static let maxPending = 10_000

    init(timeline: TimelineID, user: UserID, connection: WebSocketConnection, store: HubStore, time: WireTime,
         onEnd: @escaping @Sendable (Subscription) -> Void) {
        self.timeline = timeline
        self.user = user
        self.connection = connection
        self.store = store
        self.time = time
        self.onEnd = onEnd
    }

    /// Starts delivery: replays (after, through] from the store, then goes live.
    func begin(after: Int64, through head: Int64) {
        eventLoop.assertInEventLoop()
        lastSent = after
        fetch(through: head)
    }

    func receive(_ delivery: Delivery) {
        guard !ended else { return }
        if catchingUp {
            pending.append(delivery)
            if pending.count > Self.maxPending { overflow() }
            return
        }
        switch delivery {
        case .receipt(let frame):
            send(frame)
        case .event(let seq, let frame, let leaving):
            if seq <= lastSent { return }
            if seq > lastSent + 1 {
                catchingUp = true
                pending.append(delivery)
                fetch(through: seq - 1)
                return
            }
            lastSent = seq
            send(frame)
            if leaving == user { endForbidden() }
        }
    }

    /// Stops delivery without a message (unsubscribe, connection closed).
    func end() {
        eventLoop.assertInEventLoop()
        ended = true
        pending = []
    }

    private func fetch(through target: Int64) {
        guard lastSent < target else { return drainPending() }
        let after = lastSent
        let store = self.store
        let timeline = self.timeline
        Task { [self] in
            do {
                let events = try await store.events(timeline: timeline, after: after, through: target,
                                                    limit: Self.pageSize)
                eventLoop.execute { self.caughtUp(events, target: target) }
            } catch {
                eventLoop.execute {
                    guard !self.ended else { return }
                    // The store is unreachable: the client resumes with `since` once it is back.
                    self.ended = true
                    self.connection.close(code: .unexpectedServerError, reason: "store unavailable")
                    self.onEnd(self)
                }
            }
        }
    }

    private func caughtUp(_ events: [TimelineEvent], target: Int64) {
        guard !ended else { return }
        for event in events where event.seq > lastSent {
            lastSent = event.seq
            send(SharedFrame(text: ByteBuffer(bytes: ServerMessage.event(event, time: time))))
            if case .member(let member, .leave, _) = event.payload, member.id == user { return endForbidden() }
            if ended { return }
        }
        if lastSent < target && !events.isEmpty { return fetch(through: target) }
        drainPending()
    }

    private func drainPending() {
        var waiting = pending.sorted { lhs, rhs in lhs.order < rhs.order }
        pending = []
        catchingUp = false
        while !waiting.isEmpty, !ended {
            let delivery = waiting.removeFirst()
            if case .event(let seq, _, _) = delivery, seq > lastSent + 1 {
                catchingUp = true
                pending = [delivery] + waiting
                return fetch(through: seq - 1)
            }
            receive(delivery)
        }
    }

    private func send(_ frame: SharedFrame) {
        if connection.sendOnLoop(frame) == .overflow { overflow() }
    }

    private func overflow() {
        guard !ended else { return }
        ended = true
        connection.close(code: .init(codeNumber: Int(TsunaguCloseCode.slowConsumer)),
                         reason: "slow consumer: reconnect and resume with since")
        onEnd(self)
    }

    /// The user was removed from the timeline: PROTOCOL.md §5, "live subscriptions of a removed
    /// user end with `forbidden`".
    private func endForbidden() {
        ended = true
        let message = ServerMessage.error(re: nil, code: .forbidden, message: "no longer a member of this timeline",
                                          timeline: timeline)
        connection.send(SharedFrame(text: ByteBuffer(bytes: message)))
        onEnd(self)
    }
}

extension Delivery {
    /// Receipts sort before events so that the pending list stays in seq order among events.
    fileprivate var order: Int64 {
        switch self {
        case .receipt: Int64.min
        case .event(let seq, _, _): seq
        }
    }
}
