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

    /// Runs `action` with its entry committed in the action's first write transaction
    /// (`HubStore.recording`): for commands whose effect is a store write.
    static func recording<T>(_ store: HubStore, _ action: String, target: String? = nil, details: String? = nil,
                             _ work: () async throws -> T) async throws -> T {
        try await store.recording(AuditRecord(organization: nil, actor: nil, action: action, target: target,
                                              source: source, details: details), work)
    }

    /// Records `action` (e.g. "keys.rotate-data-key") by the operator, on its own.
    static func record(_ store: HubStore, _ action: String, target: String? = nil, details: String? = nil) async throws {
        try await store.audit(AuditRecord(organization: nil, actor: nil, action: action, target: target,
                                          source: source, details: details))
    }
}
