import Foundation
import TsunaguCore
import TsunaguStore

/// Organization-admin API. Every route checks that the caller is an admin of their organization
/// and only ever shows that organization's data.
struct AdminRoutes: Sendable {
    let context: NodeContext

    /// `GET /v1/admin/audit?from=&to=&user=&timeline=&action=&after=&limit=` (RFC 3339 instants;
    /// default the last 30 days): the organization's audit entries, oldest first, times in the
    /// deployment's zone (JST). `next_after` pages on.
    func audit(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        let filter = try auditFilter(request, organization: session.user.organization)
        let after = try request.queryInt("after", default: 0, range: 0...Int64.max)
        let limit = try request.queryInt("limit", default: 1000, range: 1...10_000)
        let entries = try await context.store.auditEntries(filter, afterSeq: after, limit: Int(limit))
        let time = context.time
        return .json { w in
            w.objects("entries", entries) { w, entry in AuditExport.writeFields(entry, time: time, into: &w) }
            if entries.count == Int(limit), let last = entries.last { w.field("next_after", last.seq) }
        }
    }

    /// `GET /v1/admin/audit/export?format=csv|jsonl&from=&to=&user=&timeline=&action=`: every entry
    /// the filter selects, streamed in pages (never built whole in memory). The export itself is
    /// recorded first: an export that cannot be recorded is refused.
    func auditExport(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        let filter = try auditFilter(request, organization: session.user.organization)
        guard let format = AuditExport.Format(rawValue: request.query["format"] ?? "") else {
            throw HubError.badRequest("format: \"csv\" or \"jsonl\"")
        }
        let query = request.query.keys.sorted().map { "\($0)=\(request.query[$0] ?? "")" }.joined(separator: "&")
        try await context.audit("audit.export", organization: session.user.organization, actor: session.user.id,
                                source: request.source, details: query)
        let store = context.store
        let time = context.time
        return .streamed(contentType: format.contentType,
                         headers: [("Content-Disposition", "attachment; filename=\"audit.\(format.rawValue)\"")]) { out in
            if format == .csv { try await out.write(AuditExport.csvHeader) }
            var after: Int64 = 0
            while true {
                let page = try await store.auditEntries(filter, afterSeq: after, limit: AuditExport.pageSize)
                var bytes: [UInt8] = []
                for entry in page { bytes += AuditExport.line(entry, format: format, time: time) }
                try await out.write(bytes)
                guard page.count == AuditExport.pageSize, let last = page.last else { return }
                after = last.seq
            }
        }
    }

    private func auditFilter(_ request: APIRequest, organization: OrganizationID) throws -> AuditFilter {
        let now = WireTime.nowMillis()
        let from = try instant(request, "from") ?? now - 30 * 86_400_000
        let to = try instant(request, "to") ?? now
        var filter = AuditFilter(organization: organization, fromMillis: from, toMillis: to)
        if let raw = request.query["user"], !raw.isEmpty {
            guard let user = UserID(raw) else { throw HubError.badRequest("user: not a user id") }
            filter.user = user
        }
        if let raw = request.query["timeline"], !raw.isEmpty {
            guard let timeline = TimelineID(raw) else { throw HubError.badRequest("timeline: not a timeline id") }
            filter.timeline = timeline
        }
        if let action = request.query["action"], !action.isEmpty {
            guard action.count <= 64 else { throw HubError.badRequest("action: at most 64 characters") }
            filter.action = action
        }
        return filter
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
