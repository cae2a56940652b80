import Foundation
import GRDB
import TsunaguCore
import TsunaguCrypto

/// What `tsunagu audit verify` found, compared with the newest anchor given.
public enum AuditVerdict: Sendable, Equatable {
    case intact(checked: Int)
    /// A row was changed or inserted: the chain's link breaks at `position`.
    case tampered(position: Int64, checked: Int)
    /// The chain is shorter than an anchor says it was: entries from `position` on are missing.
    case truncated(position: Int64, anchored: Int64, present: Int64)
    /// The chain is as long as the anchor but its entry `position` is not the one anchored (the
    /// chain was rebuilt, or the anchor belongs to another store).
    case diverged(position: Int64)

    /// The first bad position, or nil when intact.
    public var firstBadPosition: Int64? {
        switch self {
        case .intact: nil
        case .tampered(let position, _), .truncated(let position, _, _), .diverged(let position): position
        }
    }
}

extension HubStore {
    /// The chain's length and its last link, read in one snapshot.
    public func auditHead() async throws -> (count: Int64, head: [UInt8]) {
        try await read { db in
            let row = try Row.fetchOne(db, sql: "SELECT seq, chain FROM audit_log ORDER BY seq DESC LIMIT 1")
            let count: Int64 = row?["seq"] ?? 0
            let head: Data = row?["chain"] ?? Data()
            return (count, [UInt8](head))
        }
    }

    /// A signed anchor of the chain as it is now.
    public func auditAnchor(key: SymmetricKey) async throws -> AuditAnchor {
        let (count, head) = try await auditHead()
        return AuditAnchor(count: count, head: head, atMillis: Self.nowMillis(), key: key)
    }

    /// Walks the chain, then holds it against `anchor` (already checked to be signed): every entry
    /// the anchor counts must still be there, and entry `anchor.count` must carry the anchored link.
    public func verifyAudit(against anchor: AuditAnchor?) async throws -> AuditVerdict {
        let (checked, broken) = try await verifyAuditChain()
        if let broken { return .tampered(position: broken, checked: checked) }
        guard let anchor, anchor.count > 0 else { return .intact(checked: checked) }
        guard Int64(checked) >= anchor.count else {
            return .truncated(position: Int64(checked) + 1, anchored: anchor.count, present: Int64(checked))
        }
        let link = try await read { db in
            try Data.fetchOne(db, sql: "SELECT chain FROM audit_log WHERE seq = ?", arguments: [anchor.count])
        }
        guard let link, ByteEncoding.hex([UInt8](link)) == anchor.head else { return .diverged(position: anchor.count) }
        return .intact(checked: checked)
    }
}
