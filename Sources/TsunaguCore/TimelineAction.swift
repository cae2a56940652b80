/// Everything a user can do to a timeline. Each operation of the wire protocol and the HTTP API
/// maps to exactly one action, and `TimelineAccessPolicy` decides it; no handler decides on its own.
public enum TimelineAction: String, Sendable, CaseIterable {
    /// subscribe, history, receipts, the timeline in listings
    case read
    case post
    case react
    case markRead
    case startOrEndCall
    case addMember
    /// removing another member; removing yourself is `leave`
    case removeMember
    case leave
}

/// docs/protocol.md §6: "`viewer` may read, react and mark read, but not post or start calls. Only members
/// of a timeline see anything of it; a non-member gets `forbidden` for every operation on it."
public enum TimelineAccessPolicy {
    public static func allows(_ role: TimelineRole?, _ action: TimelineAction) -> Bool {
        guard let role else { return false }
        switch action {
        case .read, .react, .markRead, .leave:
            return true
        case .post, .startOrEndCall:
            return role >= .member
        case .addMember, .removeMember:
            return role == .owner
        }
    }
}
