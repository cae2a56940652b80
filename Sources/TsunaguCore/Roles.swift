/// A user's role in their organization (white paper 5.16/5.18: organization admins manage their users).
public enum OrganizationRole: String, Sendable, Codable, CaseIterable {
    case admin
    case member
}

/// A member's role in one timeline. Ordered by privilege: owner > member > viewer.
public enum TimelineRole: String, Sendable, Codable, CaseIterable, Comparable {
    case owner
    case member
    case viewer

    private var rank: Int {
        switch self {
        case .owner: 2
        case .member: 1
        case .viewer: 0
        }
    }

    public static func < (lhs: TimelineRole, rhs: TimelineRole) -> Bool { lhs.rank < rhs.rank }
}

/// Timeline kinds (docs/protocol.md §6, `POST /v1/timelines`).
public enum TimelineKind: String, Sendable, Codable, CaseIterable {
    case patient
    case group
}
