import NIOCore
import TsunaguCore
import TsunaguWebSocket

/// One timeline subscribed on one connection: the end of the fan-out path. What it receives, and
/// in which order, the timeline's feed has decided (`FeedStateMachine`); it writes the frames to
/// its connection and notices when it must stop: a slow consumer (the queue overflowed) or a
/// member/leave event that removes its user. Confined to its connection's event loop, hence
/// `@unchecked Sendable`.
final class Subscription: Hashable, @unchecked Sendable {
    /// Why a subscription stopped on its own.
    enum Stop {
        case slowConsumer
        /// The user was removed from the timeline: "live subscriptions of a removed user end with
        /// `forbidden`" (docs/protocol.md).
        case removedFromTimeline
        /// A store read it needed failed.
        case storeUnavailable
    }

    let timeline: TimelineID
    let user: UserID
    let connection: WebSocketConnection
    var eventLoop: any EventLoop { connection.eventLoop }
    private let onStop: @Sendable (Subscription, Stop) -> Void
    private var ended = false

    init(timeline: TimelineID, user: UserID, connection: WebSocketConnection,
         onStop: @escaping @Sendable (Subscription, Stop) -> Void) {
        self.timeline = timeline
        self.user = user
        self.connection = connection
        self.onStop = onStop
    }

    /// On the event loop: the hot path, one call per subscriber per event, no hop, no encode.
    func receive(_ frame: FeedFrame) {
        guard !ended else { return }
        if connection.sendOnLoop(frame.bytes) == .overflow { return stop(.slowConsumer) }
        if let leaving = frame.leaving, leaving == user {  // nil for all but member/leave: no string work
            removedFromTimeline()
        }
    }

    /// On the event loop: the user left the timeline (its member/leave event, or the durable
    /// revocation record, whichever comes first; the second finds it ended and does nothing).
    func removedFromTimeline() {
        guard !ended else { return }
        let message = ServerMessage.error(re: nil, code: .forbidden, message: "no longer a member of this timeline",
                                          timeline: timeline)
        connection.send(SharedFrame(text: ByteBuffer(bytes: message)))
        stop(.removedFromTimeline)
    }

    /// Stops delivery without a message (unsubscribe, connection closed).
    func end() {
        eventLoop.assertInEventLoop()
        ended = true
    }

    /// On the event loop.
    func stop(_ reason: Stop) {
        guard !ended else { return }
        ended = true
        onStop(self, reason)
    }

    static func == (lhs: Subscription, rhs: Subscription) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
