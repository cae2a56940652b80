import Foundation
import TsunaguStore

/// Audit entries of operator commands (`nodes *`, `backup`, `restore`, `keys *`, `admin *`, the
/// demo admin `up` creates): no user acts, so the entry names the command line as its source.
/// A command whose entry cannot be written fails: the operator's action is not done unrecorded.
enum OperatorAudit {
    /// "cli" and the operating-system user who ran the command.
    static var source: String {
        let user = ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"]
        return user.map { "cli:\($0)" } ?? "cli"
    }

    /// Records `action` (e.g. "keys.rotate-data-key") by the operator.
    static func record(_ store: HubStore, _ action: String, target: String? = nil, details: String? = nil) async throws {
        try await store.audit(AuditRecord(organization: nil, actor: nil, action: action, target: target,
                                          source: source, details: details))
    }
}
