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
        let outcome = try await audited("member.invite.accept", session, request) {
            try await context.store.acceptInvitation(id, by: session.user)
        }
        switch outcome {
        case .joined(let invitation, let event):
            context.committed(event)
            return .json { w in
                w.field("timeline", invitation.timeline.rawValue)
                w.field("role", invitation.role.rawValue)
                w.field("seq", event.seq)
            }
        case .alreadyMember(let invitation):
            return .json { w in
                w.field("timeline", invitation.timeline.rawValue)
                w.field("role", invitation.role.rawValue)
            }
        case .withdrawn:
            throw HubError.conflict("the invitation was withdrawn: its sender may no longer add members")
        }
    }

    /// → 204.
    func decline(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let id = try Self.invitationParameter(request)
        _ = try await audited("member.invite.decline", session, request) {
            try await context.store.declineInvitation(id, by: session.user)
        }
        return .noContent
    }

    /// Runs the answer with its entries committed in its transaction: the store records it once
    /// in each organization's audit log (`AuditScope.recordAnswer`); if they cannot be written,
    /// nothing is answered.
    private func audited<T>(_ action: String, _ session: SessionRecord, _ request: APIRequest,
                            _ work: () async throws -> T) async throws -> T {
        try await context.audited(action, organization: session.user.organization, actor: session.user.id,
                                  source: request.source, work)
    }

    private static func invitationParameter(_ request: APIRequest) throws -> InvitationID {
        guard let id = request.parameters["id"].flatMap(InvitationID.init) else {
            throw HubError.notFound("no such invitation")
        }
        return id
    }
}
