import Foundation
import GRDB
import TsunaguCore

/// One revocation as every node reads it from the store: a session ended (its sockets close) or
/// a member left a timeline (their subscriptions to it end). Ids only.
public struct Revocation: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case session(SessionID)
        case membership(timeline: TimelineID, user: UserID)
        /// Written by a newer version: a follower moves past it.
        case other
    }

    public var id: Int64
    public var atMillis: Int64
    public var kind: Kind
}

/// The durable path of revocations (docs/security.md, "Durable revocation"). Each change that ends
/// a session or a membership writes a row here in its own transaction; every node follows the
/// table by id (`RevocationFollower`) and acts on each row exactly as on the peer message, which
/// stays the fast path. Rows are kept a while and then pruned; the newest is always kept, so ids
/// never go back after a prune.
extension HubStore {
    /// Ends every live session that `condition` selects (a SQL predicate over `sessions`, with
    /// `arguments`) and records a revocation for each, inside the caller's transaction.
    static func revokeSessions(_ db: Database, where condition: String, arguments: SQLArguments,
                               at now: Int64) throws -> [SessionID] {
        let ids = try String.fetchAll(db, sql: "SELECT id FROM sessions WHERE revoked_at IS NULL AND (\(condition))",
                                      arguments: arguments).map(SessionID.init(unchecked:))
        for id in ids {
            try db.execute(sql: "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           arguments: [now, id.rawValue])
            try recordRevocation(db, kind: "session", session: id.rawValue, user: nil, timeline: nil, at: now)
        }
        return ids
    }

    /// Records that `user` left `timeline`, inside the caller's transaction.
    static func recordMembershipRevocation(_ db: Database, timeline: TimelineID, user: UserID, at now: Int64) throws {
        try recordRevocation(db, kind: "membership", session: nil, user: user.rawValue, timeline: timeline.rawValue, at: now)
    }

    private static func recordRevocation(_ db: Database, kind: String, session: String?, user: String?,
                                         timeline: String?, at now: Int64) throws {
        // max + 1 inside the write transaction: writers are serialized, so a follower that has
        // read every id up to n never sees a smaller id commit later.
        try db.dialect.serialize(db, .revocations)
        let next = (try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM revocations") ?? 0) + 1
        try db.execute(sql: """
            INSERT INTO revocations (id, at_ms, kind, session_id, user_id, timeline_id) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [next, now, kind, session, user, timeline])
    }

    /// Revocations after `id`, oldest first, at most `limit`.
    public func revocations(after id: Int64, limit: Int = 1000) async throws -> [Revocation] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, at_ms, kind, session_id, user_id, timeline_id FROM revocations WHERE id > ? ORDER BY id LIMIT ?
                """, arguments: [id, limit]).map { row -> Revocation in
                let id: Int64 = row["id"], at: Int64 = row["at_ms"]
                switch row["kind"] as String {
                case "session":
                    guard let session = (row["session_id"] as String?).flatMap(SessionID.init) else {
                        return Revocation(id: id, atMillis: at, kind: .other)
                    }
                    return Revocation(id: id, atMillis: at, kind: .session(session))
                case "membership":
                    guard let timeline = (row["timeline_id"] as String?).flatMap(TimelineID.init),
                        let user = (row["user_id"] as String?).flatMap(UserID.init)
                    else { return Revocation(id: id, atMillis: at, kind: .other) }
                    return Revocation(id: id, atMillis: at, kind: .membership(timeline: timeline, user: user))
                default:
                    return Revocation(id: id, atMillis: at, kind: .other)
                }
            }
        }
    }

    /// The newest revocation id (0 when none): where a starting node begins to follow.
    public func latestRevocationID() async throws -> Int64 {
        try await read { try Int64.fetchOne($0, sql: "SELECT MAX(id) FROM revocations") ?? 0 }
    }

    /// Deletes revocations recorded before `millis`, except the newest. Returns how many.
    @discardableResult
    public func pruneRevocations(before millis: Int64) async throws -> Int {
        try await writeImmediate { db in
            try db.execute(sql: """
                DELETE FROM revocations WHERE at_ms < ? AND id < (SELECT MAX(id) FROM revocations)
                """, arguments: [millis])
            return db.changesCount
        }
    }
}
