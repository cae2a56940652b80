import TsunaguCore

/// A message on a peer link. They carry ids and seqs only — never content: the receiving node
/// reads the events themselves from the store (docs/cluster.md).
enum PeerMessage: Equatable {
    /// The first message of a link: who connects to whom, signed with the peer key (`PeerAuth`).
    case hello(Hello)
    /// The receiver's answer to a hello: its own nonce, signed and bound to the hello's. Both
    /// nonces key the link (`PeerFrameSealer`); nothing else travels before it.
    case ack(Ack)
    /// The timeline has `seq` committed.
    case event(TimelineID, seq: Int64)
    /// A member's read marker moved (with the reader's profession; nil from an older peer).
    case receipt(TimelineID, user: UserID, profession: Profession?, seq: Int64)
    /// The session ended: close its sockets.
    case revoke(SessionID)
    /// A type this node does not know (a newer peer during a rolling upgrade): ignored.
    case unknown

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
            self = .event(timeline, seq: seq)
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
        case .event(let timeline, let seq):
            var w = JSONWriter()
            w.beginObject()
            w.field("type", "event")
            w.field("timeline", timeline.rawValue)
            w.field("seq", seq)
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
