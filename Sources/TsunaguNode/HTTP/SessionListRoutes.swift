import Foundation
import TsunaguCore
import TsunaguStore

/// A user's own sessions, and an admin ending all of a user's (docs/protocol.md §5). Every
/// session ended here is recorded in the store for every node and its sockets close
/// (`NodeContext.sessionRevoked`); each action is audited.
struct SessionListRoutes: Sendable {
    let context: NodeContext

    /// `GET /v1/me/sessions` → {sessions: [{id, created_at, last_seen_at, expires_at, source,
    /// user_agent, current}]}, most recently used first. Never a token.
    func list(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let sessions = try await context.store.sessions(of: session.user.id)
        let time = context.time
        return .json { w in
            w.objects("sessions", sessions) { w, info in
                w.field("id", info.id.rawValue)
                w.field("created_at", time.format(millis: info.createdAtMillis))
                w.field("last_seen_at", time.format(millis: info.lastSeenMillis))
                w.field("expires_at", time.format(millis: info.expiresAtMillis))
                if let source = info.source { w.field("source", source) }
                if let agent = info.userAgent { w.field("user_agent", agent) }
                w.field("current", info.id == session.id)
            }
        }
    }

    /// `DELETE /v1/me/sessions/{id}` → 204: ends one of the caller's sessions (the current one
    /// too, like a logout); 404 for any id that is not a live session of the caller.
    func revokeOne(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        guard let id = request.parameters["id"].flatMap(SessionID.init) else { throw HubError.notFound("no such session") }
        try await context.audited("session.revoke", organization: session.user.organization, actor: session.user.id,
                                  target: id.rawValue, source: request.source) {
            try await context.store.revokeSession(id, of: session.user.id)
        }
        context.sessionRevoked(id)
        return .noContent
    }

    /// `DELETE /v1/me/sessions` → 200 {ended}: ends every session of the caller;
    /// `?keep=current` keeps the one making the request.
    func revokeAll(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let keep: SessionID?
        switch request.query["keep"] {
        case nil: keep = nil
        case "current"?: keep = session.id
        default: throw HubError.badRequest("keep: only \"current\"")
        }
        // The entry commits with the revocation (how many ended is in the answer, not the entry).
        let ended = try await context.audited(keep == nil ? "session.revoke-all" : "session.revoke-others",
                                              organization: session.user.organization, actor: session.user.id,
                                              target: session.user.id.rawValue, source: request.source) {
            try await context.store.revokeSessions(of: session.user.id, keeping: keep)
        }
        for id in ended { context.sessionRevoked(id) }
        return .json { $0.field("ended", ended.count) }
    }

    /// `DELETE /v1/admin/users/{id}/sessions` → 200 {ended}: an organization admin ends every
    /// session of a user of their organization.
    func revokeForUser(_ request: APIRequest) async throws -> APIResponse {
        let admin = try await context.authenticateAdmin(request)
        guard let user = request.parameters["id"].flatMap(UserID.init) else {
            throw HubError.notFound("no such user in your organization")
        }
        let ended = try await context.audited("user.sessions-revoke", organization: admin.user.organization,
                                              actor: admin.user.id, target: user.rawValue, source: request.source) {
            try await context.store.revokeSessions(of: user, in: admin.user.organization)
        }
        for id in ended { context.sessionRevoked(id) }
        return .json { $0.field("ended", ended.count) }
    }
}
