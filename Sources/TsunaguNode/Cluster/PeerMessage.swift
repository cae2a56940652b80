import TsunaguCore

/// A message on a peer link (docs/cluster.md, "Which path carries what"). An event travels with
/// its frame — the message its subscribers receive, serialized once by the committing node — so
/// the other nodes deliver it without reading the store; a frame too large for one peer message
/// travels as its (timeline, seq) alone and is read from the store. Links are authenticated
/// message by message (`PeerFrameSealer`) and run over mutual TLS between hosts.
enum PeerMessage: Equatable {
    /// The first message of a link: who connects to whom, signed with the peer key (`PeerAuth`).
    case hello(Hello)
    /// The receiver's answer to a hello: its own nonce, signed and bound to the hello's. Both
    /// nonces key the link (`PeerFrameSealer`); nothing else travels before it.
    case ack(Ack)
    /// The timeline has `seq` committed; with its frame, or nil (too large, or an older peer).
    case event(TimelineID, seq: Int64, frame: EventFrame?)
    /// A member's read marker moved (with the reader's profession; nil from an older peer).
    case receipt(TimelineID, user: UserID, profession: Profession?, seq: Int64)
    /// The session ended: close its sockets.
    case revoke(SessionID)
    /// A type this node does not know (a newer peer during a rolling upgrade): ignored.
    case unknown

    /// A committed event as its subscribers receive it.
    struct EventFrame: Equatable {
        /// The `event` message (`ServerMessage.event`).
        var text: String
        /// The commit time (publish→deliver latency is measured from it).
        var atMillis: Int64
        /// The user a member/leave event removes (their subscriptions end after it).
        var leaving: UserID?
    }

    /// Frames whose peer message would pass this size go as a hint: the peer endpoint takes
    /// messages up to `WebSocketLimits.maxMessageBytes` (64 KiB), and escaping a 16,384-character
    /// body of control characters into a frame, then the frame into a peer message, can pass it.
    static let largestFramedEvent = 48 * 1024

    /// The text of the event message for `timeline`/`seq`, with its frame when it fits (serialized
    /// once: this is on every commit's path).
    static func framedEventText(_ timeline: TimelineID, seq: Int64, frame: EventFrame) -> String {
        let text = PeerMessage.event(timeline, seq: seq, frame: frame).text
        return text.utf8.count <= largestFramedEvent ? text : PeerMessage.event(timeline, seq: seq, frame: nil).text
    }

    /// The timeline of an event message, read off the start of its text without parsing the
    /// rest (its frame is most of it, escaped); nil for any other text. A receiver that follows
    /// nothing of that timeline drops the message with this alone: on a cluster most events are
    /// for timelines another node's clients follow. Relies on `text` writing `type`, then
    /// `timeline`, first; a timeline id needs no escaping.
    static func eventTimeline(peeking text: String) -> TimelineID? {
        let prefix = #"{"type":"event","timeline":""#.utf8
        let utf8 = text.utf8
        guard utf8.starts(with: prefix) else { return nil }
        let start = utf8.index(utf8.startIndex, offsetBy: prefix.count)
        guard let end = utf8[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return TimelineID(String(text[start..<end]))
    }

    struct Hello: Equatable {
        /// The connecting node.
        var node: String
        /// The node it means to reach: a hello is valid at that node only.
        var to: String
        var ts: Int64
        var nonce: String
        var mac: String

        var text: String {
            var w = JSONWriter()
            w.beginObject()
            w.field("type", "peer")
            w.field("v", 2)
            w.field("node", node)
            w.field("to", to)
            w.field("ts", ts)
            w.field("nonce", nonce)
            w.field("mac", mac)
            w.endObject()
            return w.string
        }
    }

    struct Ack: Equatable {
        /// The answering node.
        var node: String
        var nonce: String
        var mac: String

        var text: String {
            var w = JSONWriter()
            w.beginObject()
            w.field("type", "peer-ack")
            w.field("node", node)
            w.field("nonce", nonce)
            w.field("mac", mac)
            w.endObject()
            return w.string
        }
    }

    /// nil when the text is not a peer message (not JSON, no type, a known type with bad fields).
    init?(parsing text: String) {
        guard let json = try? JSONValue.parse(text), let type = json["type"]?.stringValue else { return nil }
        switch type {
        case "peer":
            // A hello without a receiver (version 1) is no hello: it could be replayed to any node.
            guard let node = json["node"]?.stringValue, let to = json["to"]?.stringValue,
                let ts = json["ts"]?.int64Value, let nonce = json["nonce"]?.stringValue, let mac = json["mac"]?.stringValue
            else { return nil }
            self = .hello(Hello(node: node, to: to, ts: ts, nonce: nonce, mac: mac))
        case "peer-ack":
            guard let node = json["node"]?.stringValue, let nonce = json["nonce"]?.stringValue,
                let mac = json["mac"]?.stringValue
            else { return nil }
            self = .ack(Ack(node: node, nonce: nonce, mac: mac))
        case "event":
            guard let timeline = json["timeline"]?.stringValue.flatMap(TimelineID.init),
                let seq = json["seq"]?.int64Value
            else { return nil }
            var frame: EventFrame?
            if let text = json["frame"]?.stringValue, !text.isEmpty, let at = json["at"]?.int64Value {
                let leaving = json["leaving"]?.stringValue
                guard leaving == nil || UserID(leaving!) != nil else { return nil }
                frame = EventFrame(text: text, atMillis: at, leaving: leaving.flatMap(UserID.init))
            }
            self = .event(timeline, seq: seq, frame: frame)
        case "receipt":
            guard let timeline = json["timeline"]?.stringValue.flatMap(TimelineID.init),
                let user = json["user"]?.stringValue.flatMap(UserID.init), let seq = json["seq"]?.int64Value
            else { return nil }
            self = .receipt(timeline, user: user, profession: json["profession"]?.stringValue.flatMap(Profession.init),
                            seq: seq)
        case "revoke":
            guard let session = json["session"]?.stringValue.flatMap(SessionID.init) else { return nil }
            self = .revoke(session)
        default:
            self = .unknown
        }
    }

    /// The wire text. A receipt is the same object clients receive for a moved read marker: one
    /// serializer for both.
    var text: String {
        switch self {
        case .hello(let hello):
            return hello.text
        case .ack(let ack):
            return ack.text
        case .event(let timeline, let seq, let frame):
            var w = JSONWriter(capacity: 128 + (frame?.text.utf8.count ?? 0))
            w.beginObject()
            w.field("type", "event")
            w.field("timeline", timeline.rawValue)
            w.field("seq", seq)
            if let frame {
                w.field("at", frame.atMillis)
                if let leaving = frame.leaving { w.field("leaving", leaving.rawValue) }
                w.field("frame", frame.text)
            }
            w.endObject()
            return w.string
        case .receipt(let timeline, let user, let profession, let seq):
            return String(decoding: ServerMessage.receipt(timeline: timeline, user: user, seq: seq, profession: profession),
                          as: UTF8.self)
        case .revoke(let session):
            var w = JSONWriter()
            w.beginObject()
            w.field("type", "revoke")
            w.field("session", session.rawValue)
            w.endObject()
            return w.string
        case .unknown:
            return #"{"type":"unknown"}"#
        }
    }
}
