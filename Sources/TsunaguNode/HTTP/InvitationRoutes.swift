import TsunaguCore
import TsunaguStore

/// The invitee's side of cross-organization timeline invitations: `GET /v1/me/invitations`,
/// `POST /v1/me/invitations/{id}/accept`, `POST /v1/me/invitations/{id}/decline`
/// (docs/protocol.md §5). Both organizations' audit logs record the answer.
struct InvitationRoutes: Sendable {
    let context: NodeContext

    /// → 200 {invitations:[{id, timeline{id,title}, role, from{id,name,profession,organization{id,name}}, created_at}]}
    func list(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let invitations = try await context.store.invitations(for: session.user.id)
        let time = context.time
        return .json { w in
            w.objects("invitations", invitations) { w, invitation in
                w.field("id", invitation.id.rawValue)
                w.key("timeline")
                w.beginObject()
                w.field("id", invitation.timeline.rawValue)
                w.field("title", invitation.timelineTitle)
                w.endObject()
                w.field("role", invitation.role.rawValue)
                w.key("from")
                w.beginObject()
                w.field("id", invitation.inviter.id.rawValue)
                w.field("name", invitation.inviter.name)
                w.field("profession", invitation.inviter.profession.rawValue)
                w.key("organization")
                w.beginObject()
                w.field("id", invitation.inviterOrganization.rawValue)
                w.field("name", invitation.inviterOrganizationName)
                w.endObject()
                w.endObject()
                w.field("created_at", time.format(millis: invitation.createdAtMillis))
            }
        }
    }

    /// → 200 {timeline, role, seq} (seq of the `member`/`join` event; absent when already a
    /// member); 409 when the invitation was withdrawn; 404 for any id that is not the caller's.
    func accept(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let id = try Self.invitationParameter(request)
        let outcome = try await context.store.acceptInvitation(id, by: session.user)
        switch outcome {
        case .joined(let invitation, let event):
            context.committed(event)
            try await audit("member.invite.accept", invitation, request)
            return .json { w in
                w.field("timeline", invitation.timeline.rawValue)
                w.field("role", invitation.role.rawValue)
                w.field("seq", event.seq)
            }
        case .alreadyMember(let invitation):
            try await audit("member.invite.accept", invitation, request)
            return .json { w in
                w.field("timeline", invitation.timeline.rawValue)
                w.field("role", invitation.role.rawValue)
            }
        case .withdrawn(let invitation):
            try await audit("member.invite.withdrawn", invitation, request)
            throw HubError.conflict("the invitation was withdrawn: its sender may no longer add members")
        }
    }

    /// → 204.
    func decline(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let id = try Self.invitationParameter(request)
        let invitation = try await context.store.declineInvitation(id, by: session.user)
        try await audit("member.invite.decline", invitation, request)
        return .noContent
    }

    /// One entry in each organization's audit log (once when both are the same).
    private func audit(_ action: String, _ invitation: TimelineInvitation, _ request: APIRequest) async throws {
        let organizations = Set([invitation.inviteeOrganization, invitation.inviterOrganization])
        for organization in organizations.sorted() {
            try await context.audit(action, organization: organization, actor: invitation.invitee,
                                target: "\(invitation.timeline.rawValue)/\(invitation.invitee.rawValue)",
                                source: request.source,
                                details: "\(invitation.id.rawValue) role \(invitation.role.rawValue)")
        }
    }

    private static func invitationParameter(_ request: APIRequest) throws -> InvitationID {
        guard let id = request.parameters["id"].flatMap(InvitationID.init) else {
            throw HubError.notFound("no such invitation")
        }
        return id
    }
}
