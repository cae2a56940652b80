import NIOCore
import TsunaguCore
import TsunaguWebSocket

/// What a feed hands its subscribers: an event or a receipt, serialized (and, where negotiated,
/// compressed) once for the whole node.
struct FeedFrame: Sendable {
    let bytes: SharedFrame
    /// The user a member/leave event removes: that user's subscriptions end after it.
    let leaving: UserID?
    /// When the event was committed (nil for a receipt): publish→deliver latency is measured from it.
    let committedAtMillis: Int64?

    init(event: TimelineEvent, time: WireTime) {
        bytes = SharedFrame(text: ByteBuffer(bytes: ServerMessage.event(event, time: time)))
        committedAtMillis = event.atMillis
        if case .member(let user, .leave, _) = event.payload { leaving = user.id } else { leaving = nil }
    }

    /// An event committed through another node, as that node serialized it (`PeerMessage`).
    init(peer frame: PeerMessage.EventFrame) {
        bytes = SharedFrame(text: frame.text)
        committedAtMillis = frame.atMillis
        leaving = frame.leaving
    }

    /// The frame as a peer message carries it to the other nodes.
    var peerFrame: PeerMessage.EventFrame {
        PeerMessage.EventFrame(text: String(buffer: bytes.payload), atMillis: committedAtMillis ?? 0, leaving: leaving)
    }

    init(receipt timeline: TimelineID, user: UserID, profession: Profession?, seq: Int64) {
        bytes = SharedFrame(text: ByteBuffer(bytes: ServerMessage.receipt(timeline: timeline, user: user, seq: seq,
                                                                          profession: profession)))
        leaving = nil
        committedAtMillis = nil
    }
}
