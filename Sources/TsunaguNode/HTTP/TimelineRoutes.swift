import NIOHTTP1
import TsunaguCore
import TsunaguStore

/// Timelines, their members and their history.
struct TimelineRoutes: Sendable {
    let context: NodeContext

    func list(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let timelines = try await context.store.timelines(for: session.user.id)
        return .json { w in
            w.objects("timelines", timelines) { w, timeline in
                Self.write(timeline, into: &w)
            }
        }
    }

    private struct CreateBody: Decodable {
        var title: String
        var kind: String
    }

    func create(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let body = try request.decode(CreateBody.self)
        guard let kind = TimelineKind(rawValue: body.kind) else {
            throw HubError.badRequest("kind: must be \"patient\" or \"group\"")
        }
        let (summary, event) = try await context.store.createTimeline(title: body.title, kind: kind,
                                                                      creator: session.user)
        context.committed(event)
        return .json(.created) { Self.write(summary, into: &$0) }
    }

    private struct AddMemberBody: Decodable {
        var email: String
        var role: String
    }

    /// `POST /v1/timelines/{id}/members {email, role}`, owners only: a user of the owner's
    /// organization joins at once (201); any other address is answered 202 with the same body,
    /// no sooner than a fixed floor, whether or not it exists — a user of another organization
    /// gets a pending invitation (InvitationRoutes), an unknown address nothing
    /// (docs/security.md, "Cross-organization members").
    func addMember(_ request: APIRequest) async throws -> APIResponse {
        let started = ContinuousClock.now
        let session = try await context.authenticate(request)
        let timeline = try request.timelineParameter()
        let body = try request.decode(AddMemberBody.self)
        guard let role = TimelineRole(rawValue: body.role) else {
            throw HubError.badRequest("role: must be \"owner\", \"member\" or \"viewer\"")
        }
        guard body.email.contains("@"), body.email.utf8.count <= 254 else { throw HubError.badRequest("email: not an address") }
        let organization = session.user.organization
        switch try await context.store.addOrInviteMember(timeline: timeline, email: body.email, role: role, by: session.user) {
        case .added(let member, let event):
            context.committed(event)
            await context.audit("member.add", organization: organization, actor: session.user.id,
                                target: "\(timeline.rawValue)/\(member.user.id.rawValue)", source: request.source,
                                details: "role \(member.role.rawValue)")
            return .json(.created) { w in
                w.key("user")
                ServerMessage.writePerson(member.user, into: &w)
                w.field("role", member.role.rawValue)
                w.field("seq", event.seq)
            }
        case .invited(let invitee, let invitation):
            // The invitee's organization learns who invited whom; the inviter's only that an
            // invitation went out, as for an unknown address.
            if let invitation {
                await context.audit("member.invited", organization: invitee.organization, actor: session.user.id,
                                    target: invitee.id.rawValue, source: request.source,
                                    details: "\(invitation.rawValue) into \(timeline.rawValue) from \(organization.rawValue) role \(role.rawValue)")
            }
        case .nobody:
            break
        }
        await context.audit("member.invite", organization: organization, actor: session.user.id,
                            target: timeline.rawValue, source: request.source, details: "role \(role.rawValue)")
        try? await Task.sleep(until: started + context.configuration.memberAnswerFloor, clock: .continuous)
        return .json(.accepted) { $0.field("status", "accepted") }
    }

    func removeMember(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let timeline = try request.timelineParameter()
        guard let user = request.parameters["user"].flatMap(UserID.init) else {
            throw HubError.notFound("no such member")
        }
        let event = try await context.store.removeMember(timeline: timeline, user: user, by: session.user)
        context.committed(event)
        await context.audit("member.remove", organization: session.user.organization, actor: session.user.id,
                            target: "\(timeline.rawValue)/\(user.rawValue)", source: request.source)
        return .noContent
    }

    /// `GET /v1/timelines/{id}/members` → [{user,name,profession,role,read_seq}] (a bare array, as
    /// the contract writes it): who is in the timeline and how far each has read, so a client can
    /// count 既読 by profession.
    func members(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let timeline = try request.timelineParameter()
        let members = try await context.store.memberList(timeline: timeline, for: session.user.id)
        var w = JSONWriter()
        w.beginArray()
        for member in members {
            w.beginObject()
            w.field("user", member.user.id.rawValue)
            w.field("name", member.user.name)
            w.field("profession", member.user.profession.rawValue)
            w.field("role", member.role.rawValue)
            w.field("read_seq", member.readSeq)
            w.endObject()
        }
        w.endArray()
        return APIResponse(status: .ok, body: w.bytes)
    }

    /// `GET /v1/timelines/{id}/events?after=SEQ&limit=N`: a history page, oldest first.
    func history(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let timeline = try request.timelineParameter()
        let after = try request.queryInt("after", default: 0, range: 0...Int64.max)
        let limit = try request.queryInt("limit", default: 100, range: 1...1000)
        let (events, head) = try await context.store.history(timeline: timeline, user: session.user.id,
                                                             after: after, limit: Int(limit))
        let time = context.time
        return .json { w in
            w.objects("events", events) { w, event in
                ServerMessage.writeEventFields(event, time: time, into: &w)
            }
            w.field("head", head)
        }
    }

    static func write(_ timeline: TimelineSummary, into w: inout JSONWriter) {
        w.field("id", timeline.id.rawValue)
        w.field("title", timeline.title)
        w.field("kind", timeline.kind.rawValue)
        w.field("role", timeline.role.rawValue)
        w.field("head", timeline.head)
        w.field("unread", timeline.unread)
    }
}
