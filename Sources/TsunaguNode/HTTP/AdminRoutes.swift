import Foundation
import TsunaguCore
import TsunaguStore

/// Organization-admin API. Every route checks that the caller is an admin of their organization
/// and only ever shows that organization's data.
struct AdminRoutes: Sendable {
    let context: NodeContext

    /// `GET /v1/admin/audit?from=&to=` (RFC 3339 instants; default the last 30 days): the
    /// organization's audit entries, oldest first, times in the deployment's zone (JST).
    func audit(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        let now = WireTime.nowMillis()
        let from = try instant(request, "from") ?? now - 30 * 86_400_000
        let to = try instant(request, "to") ?? now
        let limit = try request.queryInt("limit", default: 1000, range: 1...10_000)
        let entries = try await context.store.auditEntries(organization: session.user.organization, fromMillis: from,
                                                           toMillis: to, limit: Int(limit))
        let time = context.time
        return .json { w in
            w.objects("entries", entries) { w, entry in
                let record = entry.record
                w.field("seq", entry.seq)
                w.field("at", time.format(millis: entry.atMillis))
                w.field("action", record.action)
                if let actor = record.actor { w.field("actor", actor.rawValue) }
                if let target = record.target { w.field("target", target) }
                if let source = record.source { w.field("source", source) }
                if let node = record.node { w.field("node", node) }
                if let details = record.details { w.field("details", details) }
            }
        }
    }

    private func instant(_ request: APIRequest, _ name: String) throws -> Int64? {
        guard let raw = request.query[name], !raw.isEmpty else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        guard let date = formatter.date(from: raw) ?? plain.date(from: raw) else {
            throw HubError.badRequest("\(name): an RFC 3339 time such as 2026-11-27T09:00:00+09:00")
        }
        return Int64(date.timeIntervalSince1970 * 1000)
    }
}
