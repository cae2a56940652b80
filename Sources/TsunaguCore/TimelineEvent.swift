/// One entry of a timeline's log. `seq` is dense and unique per timeline, assigned by the store in the
/// transaction that commits the event, so a client holding seq n+1 knows it has seen n.
public struct TimelineEvent: Sendable, Equatable {
    public var timeline: TimelineID
    public var seq: Int64
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var atMillis: Int64
    public var author: Person
    public var payload: Payload

    public init(timeline: TimelineID, seq: Int64, atMillis: Int64, author: Person, payload: Payload) {
        self.timeline = timeline
        self.seq = seq
        self.atMillis = atMillis
        self.author = author
        self.payload = payload
    }

    public var kind: Kind { payload.kind }

    public enum Kind: String, Sendable, Codable {
        case message, reaction, call, member
    }

    public enum ReactionOp: String, Sendable, Codable { case add, remove }
    public enum CallOp: String, Sendable, Codable { case start, end }
    public enum MemberOp: String, Sendable, Codable { case join, leave }

    /// The kind-specific part of an event; docs/protocol.md §3's table.
    public enum Payload: Sendable, Equatable {
        case message(body: String, clientMsgID: String)
        case reaction(targetSeq: Int64, reaction: String, op: ReactionOp)
        case call(callID: String, op: CallOp, startedAtMillis: Int64?, durationSeconds: Int64?)
        case member(user: Person, op: MemberOp, role: TimelineRole)

        public var kind: Kind {
            switch self {
            case .message: .message
            case .reaction: .reaction
            case .call: .call
            case .member: .member
            }
        }
    }
}

/// A user as other users see them: id, display name and profession.
public struct Person: Sendable, Equatable, Hashable {
    public var id: UserID
    public var name: String
    public var profession: Profession
    public init(id: UserID, name: String, profession: Profession = .other) {
        self.id = id
        self.name = name
        self.profession = profession
    }
}
