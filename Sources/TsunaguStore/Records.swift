import TsunaguCore

public struct OrganizationRecord: Sendable, Equatable {
    public var id: OrganizationID
    public var name: String
}

public struct UserRecord: Sendable, Equatable {
    public var id: UserID
    public var organization: OrganizationID
    public var email: String
    public var name: String
    public var role: OrganizationRole
    public var disabled: Bool
    public var profession: Profession = .other

    public var person: Person { Person(id: id, name: name, profession: profession) }
}

/// A user of an organization as its admins see them in the member list.
public struct OrganizationMember: Sendable, Equatable {
    public var user: UserRecord
    /// False until the invitation link was used (no password yet).
    public var activated: Bool
}

/// A timeline member with how far they have read (0: nothing yet).
public struct TimelineMemberEntry: Sendable, Equatable {
    public var user: Person
    public var role: TimelineRole
    public var readSeq: Int64
}

/// A live session: who the bearer token belongs to and until when.
public struct SessionRecord: Sendable, Equatable {
    public var id: SessionID
    public var user: UserRecord
    public var expiresAtMillis: Int64
    /// The client certificate the session is bound to (it logged in with it where the
    /// organization required one); every use of its token must present the same.
    public var certificateFingerprint: [UInt8]? = nil
    /// When the session was last used, as the store knew it when this record was read (the idle
    /// timeout counts from it; nodes write it at most once a minute).
    public var lastSeenMillis: Int64 = 0
}

/// A timeline as one of its members sees it in a listing.
public struct TimelineSummary: Sendable, Equatable {
    public var id: TimelineID
    public var title: String
    public var kind: TimelineKind
    public var role: TimelineRole
    public var head: Int64
    public var unread: Int64
}

public struct Membership: Sendable, Equatable {
    public var user: Person
    public var role: TimelineRole
}

/// A member's read marker (既読).
public struct ReadReceipt: Sendable, Equatable {
    public var user: UserID
    public var seq: Int64
    /// The reader's profession, so a client counts 既読 by profession.
    public var profession: Profession

    public init(user: UserID, seq: Int64, profession: Profession = .other) {
        self.user = user
        self.seq = seq
        self.profession = profession
    }
}
