import TsunaguCore
import TsunaguStore

/// The white paper's operational views (docs/operations.md, "Notices, incidents and monitors"):
/// notices for every user, monitor alerts and the deployment's data location for organization
/// admins, who only ever see their own organization's alerts.
struct OperationsRoutes: Sendable {
    let context: NodeContext

    /// `GET /v1/notices`: planned changes for everyone; incidents for the admins of the
    /// organizations they affect, once notified.
    func notices(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let notices = try await context.noticeBoard.load(for: session.user)
        return .json { w in
            w.key("notices")
            w.value(.array(notices.map(\.object)))
        }
    }

    /// `GET /v1/admin/alerts?limit=N`: the organization's monitor alerts, newest first.
    func alerts(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        let limit = try request.queryInt("limit", default: 100, range: 1...1000)
        let alerts = try await context.store.alerts(organization: session.user.organization, limit: Int(limit))
        let time = context.time
        return .json { w in
            w.objects("alerts", alerts) { w, alert in
                w.field("id", alert.id)
                w.field("rule", alert.rule)
                w.field("at", time.format(millis: alert.atMillis))
                if let subject = alert.subject { w.field("user", subject.rawValue) }
                w.field("observed", alert.observed)
                w.field("threshold", alert.threshold)
                w.field("window_s", alert.windowMillis / 1000)
            }
        }
    }

    /// `GET /v1/admin/deployment`: the running version and where the store's data is kept.
    func deployment(_ request: APIRequest) async throws -> APIResponse {
        _ = try await context.authenticateAdmin(request)
        let configuration = context.configuration
        return .json { w in
            w.field("version", configuration.build.version)
            w.field("commit", configuration.build.commit)
            w.key("data_location")
            if let location = configuration.dataLocation {
                w.beginObject()
                w.field("country", location.country)
                w.key("region")
                if let region = location.region { w.string(region) } else { w.null() }
                w.endObject()
            } else {
                w.null()
            }
        }
    }
}
