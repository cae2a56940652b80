import NIOHTTP1
import TsunaguCore
import TsunaguStore

/// The JSON API of docs/protocol.md §6 (the parts this node serves).
enum APIRoutes {
    static func router(_ context: NodeContext) -> APIRouter {
        var router = APIRouter()
        let sessions = SessionRoutes(context: context)
        let timelines = TimelineRoutes(context: context)
        let admin = AdminRoutes(context: context)
        let accounts = AccountRoutes(context: context)
        let certificates = CertificateRoutes(context: context)
        let sessionList = SessionListRoutes(context: context)
        let operations = OperationsRoutes(context: context)
        let invitations = InvitationRoutes(context: context)
        router.add(.POST, "/v1/sessions", sessions.login)
        router.add(.DELETE, "/v1/sessions/current", sessions.logout)
        router.add(.GET, "/v1/me", sessions.me)
        router.add(.GET, "/v1/me/sessions", sessionList.list)
        router.add(.DELETE, "/v1/me/sessions", sessionList.revokeAll)
        router.add(.DELETE, "/v1/me/sessions/{id}", sessionList.revokeOne)
        router.add(.DELETE, "/v1/admin/users/{id}/sessions", sessionList.revokeForUser)
        router.add(.GET, "/v1/timelines", timelines.list)
        router.add(.POST, "/v1/timelines", timelines.create)
        router.add(.POST, "/v1/timelines/{id}/members", timelines.addMember)
        router.add(.GET, "/v1/timelines/{id}/members", timelines.members)
        router.add(.DELETE, "/v1/timelines/{id}/members/{user}", timelines.removeMember)
        router.add(.GET, "/v1/me/invitations", invitations.list)
        router.add(.POST, "/v1/me/invitations/{id}/accept", invitations.accept)
        router.add(.POST, "/v1/me/invitations/{id}/decline", invitations.decline)
        router.add(.GET, "/v1/timelines/{id}/events", timelines.history)
        router.add(.GET, "/v1/admin/audit", admin.audit)
        router.add(.GET, "/v1/admin/audit/export", admin.auditExport)
        router.add(.GET, "/v1/notices", operations.notices)
        router.add(.GET, "/v1/admin/alerts", operations.alerts)
        router.add(.GET, "/v1/admin/deployment", operations.deployment)
        router.add(.POST, "/v1/registrations", accounts.register)
        router.add(.POST, "/v1/registrations/complete", accounts.complete)
        router.add(.GET, "/v1/admin/users", accounts.list)
        router.add(.POST, "/v1/admin/users", accounts.invite)
        router.add(.PATCH, "/v1/admin/users/{id}", accounts.update)
        router.add(.POST, "/v1/admin/users/{id}/certificates", certificates.enrolForUser)
        router.add(.GET, "/v1/admin/users/{id}/certificates", certificates.listForUser)
        router.add(.DELETE, "/v1/admin/users/{id}/certificates/{fingerprint}", certificates.removeForUser)
        router.add(.GET, "/v1/admin/organization", accounts.policy)
        router.add(.PATCH, "/v1/admin/organization", accounts.updatePolicy)
        router.add(.POST, "/v1/me/certificates", certificates.enrolMine)
        router.add(.GET, "/v1/me/certificates", certificates.listMine)
        router.add(.DELETE, "/v1/me/certificates/{fingerprint}", certificates.removeMine)
        addHealth(to: &router, context)
        WebRoutes(assets: webAssets).add(to: &router)
        return router
    }

    /// The web client's files, read and compressed once per process.
    static let webAssets = StaticAssets.load()

    /// Only the health endpoints: what a TLS node serves to plaintext connections.
    static func healthRouter(_ context: NodeContext) -> APIRouter {
        var router = APIRouter()
        addHealth(to: &router, context)
        return router
    }

    /// The admin listener's (`--admin-listen`, loopback by default): health and `/metrics`.
    /// Metrics stay off the client port: they tell an outsider how busy the hub is and which
    /// operations fail.
    static func adminRouter(_ context: NodeContext) -> APIRouter {
        var router = APIRouter()
        addHealth(to: &router, context)
        router.add(.GET, "/metrics") { _ in
            let text = await context.metrics.scrape(connections: context.connections.count,
                                              subscriptions: context.hub.subscriptionCount,
                                              peerLinks: context.peers?.connectedPeers ?? 0)
            return APIResponse(status: .ok, body: text, contentType: "text/plain; version=0.0.4")
        }
        return router
    }

    private static func addHealth(to router: inout APIRouter, _ context: NodeContext) {
        router.add(.GET, "/healthz") { _ in
            .json { $0.field("status", "ok"); $0.field("node", context.nodeID.rawValue) }
        }
        router.add(.GET, "/readyz") { _ in
            if context.isDraining { return .json(.serviceUnavailable) { $0.field("status", "draining") } }
            if context.storeHealth.answeredRecently {
                return .json { $0.field("status", "ready"); $0.field("node", context.nodeID.rawValue) }
            }
            do {
                try await context.store.ping()
                return .json { $0.field("status", "ready"); $0.field("node", context.nodeID.rawValue) }
            } catch {
                return .json(.serviceUnavailable) { $0.field("status", "store unavailable") }
            }
        }
    }
}

extension NodeContext {
    /// The session of `Authorization: Bearer …`, or `unauthenticated`; `certificate_required`
    /// when the session is bound to a client certificate this connection did not present.
    func authenticate(_ request: APIRequest) async throws -> SessionRecord {
        guard let token = request.bearerToken else { throw HubError.unauthenticated() }
        switch try await store.authenticateRequest(token: token, certificateFingerprint: request.certificateFingerprint) {
        case .live(let session):
            activity.used(session)
            return session
        case .unknownToken: throw HubError.unauthenticated("the token is not a live session")
        case .clientCertificateRequired: throw HubError.certificateRequired
        }
    }
}

extension APIRequest {
    func timelineParameter() throws -> TimelineID {
        // An id that cannot exist is answered like a timeline the caller may not see.
        guard let id = parameters["id"].flatMap(TimelineID.init) else {
            throw HubError.notAMember
        }
        return id
    }
}
