import Foundation
import GRDB
import TsunaguCore

/// A pending invitation into a timeline, as its invitee sees it.
public struct TimelineInvitation: Sendable, Equatable {
    public var id: InvitationID
    public var timeline: TimelineID
    public var timelineTitle: String
    public var role: TimelineRole
    public var invitee: UserID
    public var inviteeOrganization: OrganizationID
    public var inviter: Person
    public var inviterOrganization: OrganizationID
    public var inviterOrganizationName: String
    public var createdAtMillis: Int64
}

/// What an owner's "add this address to the timeline" did.
public enum MemberAddition: Sendable {
    /// A user of the owner's organization: a member at once.
    case added(Membership, TimelineEvent)
    /// A user of another organization: a pending invitation (new, or the one already pending;
    /// also when they are a member already, so that the answer reveals nothing).
    case invited(invitee: UserRecord, invitation: InvitationID?)
    /// No active user has the address; nothing happened.
    case nobody
}

/// What accepting an invitation did.
public enum InvitationAcceptance: Sendable {
    case joined(TimelineInvitation, TimelineEvent)
    case alreadyMember(TimelineInvitation)
    /// Its sender may no longer add members (left, or lost the owner role): gone, nobody added.
    case withdrawn(TimelineInvitation)
}

/// Timeline invitations across organizations (docs/protocol.md §5; docs/security.md,
/// "Cross-organization members"). An owner may add a user of their own organization directly;
/// anyone else must agree first. The table holds ids and a role only — nothing a person typed —
/// so nothing in it is encrypted; the title and names shown come from their encrypted homes.
extension HubStore {
    /// Adds a user of the actor's organization at once; invites a user of another one; does
    /// nothing for an unknown or disabled address. Only an owner of the timeline gets past the
    /// first check (`forbidden` for everyone else, whatever the address).
    public func addOrInviteMember(timeline: TimelineID, email: String, role: TimelineRole, by actor: UserRecord)
        async throws -> MemberAddition
    {
        _ = try await read { db in try Self.authorize(db, user: actor.id, timeline: timeline, .addMember) }
        guard let target = try await user(email: email), !target.disabled else {
            // The same write transaction as an invitation that is pending already, so that an
            // unknown address waits for the write lock like a known one (docs/security.md).
            try await writeImmediate { db in
                try Self.authorize(db, user: actor.id, timeline: timeline, .addMember)
                _ = try Self.role(db, user: UserID.random(), timeline: timeline)
            }
            return .nobody
        }
        if target.organization == actor.organization {
            // The caller records an invitation; this outcome is an addition (docs/security.md).
            AuditScope.retitle(action: "member.add")
            let (member, event) = try await addMember(timeline: timeline, email: email, role: role, by: actor)
            return .added(member, event)
        }
        let id = InvitationID.random()
        let now = Self.nowMillis()
        let created = try await writeImmediate { db -> Bool in
            try Self.authorize(db, user: actor.id, timeline: timeline, .addMember)
            if try Self.role(db, user: target.id, timeline: timeline) != nil { return false }
            try db.execute(sql: """
                INSERT INTO timeline_invitations (id, timeline_id, invitee_id, inviter_id, role, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (timeline_id, invitee_id) DO NOTHING
                """, arguments: [id.rawValue, timeline.rawValue, target.id.rawValue, actor.id.rawValue, role.rawValue, now])
            guard db.changesCount > 0 else { return false }
            // The invitee's organization learns who invited whom, in the invitation's transaction.
            AuditScope.expand { entry in
                [entry, AuditRecord(organization: target.organization, actor: actor.id, action: "member.invited",
                                    target: target.id.rawValue, source: entry.source, node: entry.node,
                                    details: "\(id.rawValue) into \(timeline.rawValue) from \(actor.organization.rawValue) role \(role.rawValue)")]
            }
            return true
        }
        return .invited(invitee: target, invitation: created ? id : nil)
    }

    /// The user's pending invitations, oldest first, with the timeline's title and who invited.
    public func invitations(for user: UserID) async throws -> [TimelineInvitation] {
        try await read { [self] db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT id FROM timeline_invitations WHERE invitee_id = ? ORDER BY created_at, id
                """, arguments: [user.rawValue])
            return try rows.map { try loadInvitation(db, InvitationID(unchecked: $0["id"])) }
        }
    }

    /// One invitation, whole; `notFound` if there is none with that id.
    private func loadInvitation(_ db: Database, _ id: InvitationID) throws -> TimelineInvitation {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT i.timeline_id, i.invitee_id, i.inviter_id, i.role, i.created_at, t.title,
                   invitee.org_id AS invitee_org, inviter.org_id AS inviter_org, o.name AS org_name
            FROM timeline_invitations i
            JOIN timelines t ON t.id = i.timeline_id
            JOIN users invitee ON invitee.id = i.invitee_id
            JOIN users inviter ON inviter.id = i.inviter_id
            JOIN organizations o ON o.id = inviter.org_id
            WHERE i.id = ?
            """, arguments: [id.rawValue]) else {
            throw StoreError.notFound("no such invitation")
        }
        let timeline = TimelineID(unchecked: row["timeline_id"])
        let inviter = UserID(unchecked: row["inviter_id"])
        let inviterOrganization = OrganizationID(unchecked: row["inviter_org"])
        return TimelineInvitation(
            id: id, timeline: timeline,
            timelineTitle: try open(row["title"], table: "timelines", column: "title", row: timeline.rawValue),
            role: TimelineRole(rawValue: row["role"]) ?? .viewer,
            invitee: UserID(unchecked: row["invitee_id"]), inviteeOrganization: OrganizationID(unchecked: row["invitee_org"]),
            inviter: try people([inviter], db)[inviter] ?? Person(id: inviter, name: ""),
            inviterOrganization: inviterOrganization,
            inviterOrganizationName: try open(row["org_name"], table: "organizations", column: "name",
                                              row: inviterOrganization.rawValue),
            createdAtMillis: row["created_at"])
    }

    /// The invitee accepts: a member with the offered role, a `member` join event, the
    /// invitation gone. `notFound` for someone else's invitation (never `forbidden`: it does not
    /// exist for them). Withdrawn when the inviter may no longer add members.
    public func acceptInvitation(_ id: InvitationID, by user: UserRecord) async throws -> InvitationAcceptance {
        let now = Self.nowMillis()
        return try await writeImmediate { [self] db in
            let invitation = try loadInvitation(db, id)
            guard invitation.invitee == user.id else { throw StoreError.notFound("no such invitation") }
            try db.execute(sql: "DELETE FROM timeline_invitations WHERE id = ?", arguments: [id.rawValue])
            let inviterRole = try Self.role(db, user: invitation.inviter.id, timeline: invitation.timeline)
            guard let inviterRole, TimelineAccessPolicy.allows(inviterRole, .addMember) else {
                AuditScope.recordAnswer("member.invite.withdrawn", invitation)
                return .withdrawn(invitation)
            }
            AuditScope.recordAnswer("member.invite.accept", invitation)
            // Added by other means meanwhile: nothing more to do.
            if try Self.role(db, user: user.id, timeline: invitation.timeline) != nil { return .alreadyMember(invitation) }
            try db.execute(sql: "INSERT INTO memberships (timeline_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
                           arguments: [invitation.timeline.rawValue, user.id.rawValue, invitation.role.rawValue, now])
            let event = try appendEvent(db, timeline: invitation.timeline, author: user.person, clientMsgID: nil,
                                        payload: .member(user: user.person, op: .join, role: invitation.role), at: now)
            return .joined(invitation, event)
        }
    }

    /// The invitee declines: the invitation is gone. `notFound` for someone else's.
    public func declineInvitation(_ id: InvitationID, by user: UserRecord) async throws -> TimelineInvitation {
        try await writeImmediate { [self] db in
            let invitation = try loadInvitation(db, id)
            guard invitation.invitee == user.id else { throw StoreError.notFound("no such invitation") }
            try db.execute(sql: "DELETE FROM timeline_invitations WHERE id = ?", arguments: [id.rawValue])
            AuditScope.recordAnswer("member.invite.decline", invitation)
            return invitation
        }
    }
}
