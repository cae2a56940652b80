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
        // The entry's target is the new timeline's id, which the store names in it.
        let (summary, event) = try await context.audited("timeline.create", organization: session.user.organization,
                                                         actor: session.user.id, source: request.source,
                                                         details: "kind \(kind.rawValue)") {
            try await context.store.createTimeline(title: body.title, kind: kind, creator: session.user)
        }
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
        context.monitor.invitationSent(by: session.user)
        // One entry, in the transaction of what happened: `member.add` when a colleague joins at
        // once (the store retitles it), else `member.invite`, which names the timeline and not
        // the invitee, as for an unknown address. Details are encrypted.
        let outcome = try await context.audited("member.invite", organization: organization, actor: session.user.id,
                                                target: timeline.rawValue, source: request.source,
                                                details: "\(body.email) role \(role.rawValue)") {
            try await context.store.addOrInviteMember(timeline: timeline, email: body.email, role: role, by: session.user)
        }
        switch outcome {
        case .added(let member, let event):
            context.committed(event)
            return .json(.created) { w in
                w.key("user")
                ServerMessage.writePerson(member.user, into: &w)
                w.field("role", member.role.rawValue)
                w.field("seq", event.seq)
            }
        case .invited, .nobody:
            // A new invitation's `member.invited` entry, in the invitee's organization, committed
            // with it (HubStore.addOrInviteMember).
            break
        }
        try? await Task.sleep(until: started + context.configuration.memberAnswerFloor, clock: .continuous)
        return .json(.accepted) { $0.field("status", "accepted") }
    }

    func removeMember(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let timeline = try request.timelineParameter()
        guard let user = request.parameters["user"].flatMap(UserID.init) else {
            throw HubError.notFound("no such member")
        }
        let event = try await context.audited("member.remove", organization: session.user.organization,
                                              actor: session.user.id, target: "\(timeline.rawValue)/\(user.rawValue)",
                                              source: request.source) {
            try await context.store.removeMember(timeline: timeline, user: user, by: session.user)
        }
        context.committed(event)
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
        // No page of patient data leaves unrecorded.
        try await context.patientReads.record("timeline.read", session: session, timeline: timeline,
                                              source: request.source, context: context)
        context.monitor.timelineRead(by: session.user, timeline: timeline)
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
