/// Everything a user can do to a timeline. Each operation of the wire protocol and the HTTP API
/// maps to exactly one action, and `TimelineAccessPolicy` decides it; no handler decides on its own.
public enum TimelineAction: String, Sendable, CaseIterable {
    /// subscribe, history, receipts, the timeline in listings
    case read
    case post
    /// any reaction but `ack`
    case react
    /// the `ack` reaction: "seen and handled", a care decision a viewer (family) may not make
    case acknowledge
    case markRead
    case startOrEndCall
    /// ending a call someone else started: the owner's call (a member ends only their own)
    case endOthersCall
    case addMember
    /// removing another member; removing yourself is `leave`
    case removeMember
    case leave
}

/// docs/protocol.md §8: a `viewer` (family) may read, mark read and react, but not post, react with
/// `ack`, or start or end calls. Only members of a timeline see anything of it; a non-member gets
/// `forbidden` for every operation on it.
public enum TimelineAccessPolicy {
    public static func allows(_ role: TimelineRole?, _ action: TimelineAction) -> Bool {
        guard let role else { return false }
        switch action {
        case .read, .react, .markRead, .leave:
            return true
        case .post, .acknowledge, .startOrEndCall:
            return role >= .member
        case .addMember, .removeMember, .endOthersCall:
            return role == .owner
        }
    }
}

extension TimelineAction {
    /// The action a reaction is: `ack` is `acknowledge`, anything else `react`.
    public static func reacting(with reaction: String) -> TimelineAction {
        reaction == "ack" ? .acknowledge : .react
    }
}
