import Foundation
import GRDB
import TsunaguCore

/// A live session as its user sees it in their list: never the token (only its hash is stored).
public struct SessionInfo: Sendable, Equatable {
    public var id: SessionID
    public var createdAtMillis: Int64
    public var lastSeenMillis: Int64
    public var expiresAtMillis: Int64
    public var source: String?
    public var userAgent: String?
}

/// Sessions as their users and admins manage them (docs/security.md, "Sessions"): the idle
/// timeout of an organization, the list of a user's sessions, and ending them. Every session
/// ended here is recorded for every node (`HubStore+Revocations`).
extension HubStore {
    /// Minutes a session may go unused before it ends, per organization.
    public static let allowedSessionIdleMinutes: ClosedRange<Int> = 5...1440
    public static let defaultSessionIdleMinutes = 60

    public func sessionIdleMinutes(_ organization: OrganizationID) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db, sql: "SELECT session_idle_minutes FROM organizations WHERE id = ?",
                             arguments: [organization.rawValue]) ?? Self.defaultSessionIdleMinutes
        }
    }

    public func setSessionIdleMinutes(_ organization: OrganizationID, _ minutes: Int) async throws {
        guard Self.allowedSessionIdleMinutes.contains(minutes) else {
            throw StoreError.invalid("session_idle_minutes: from 5 to 1440")
        }
        try await writeImmediate { db in
            try db.execute(sql: "UPDATE organizations SET session_idle_minutes = ? WHERE id = ?",
                           arguments: [minutes, organization.rawValue])
        }
    }

    /// Records that the session was used at `now`. Nodes call it at most once a minute per
    /// session (`SessionActivity`), not on every request.
    public func touchSession(_ id: SessionID, at now: Int64) async throws {
        try await writeImmediate { db in
            try db.execute(sql: """
                UPDATE sessions SET last_seen_at = ? WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)
                """, arguments: [now, id.rawValue, now])
        }
    }

    /// Which of `ids` are live sessions (not revoked, expired or idle, their user not disabled).
    public func liveSessions(among ids: [SessionID]) async throws -> Set<SessionID> {
        guard !ids.isEmpty else { return [] }
        let now = Self.nowMillis()
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
        let arguments = SQLArguments(values: ids.map(\.rawValue.databaseValue) + [now.databaseValue, now.databaseValue])
        let finalArguments = arguments
        return try await read { db in
            Set(try String.fetchAll(db, sql: """
                SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = u.org_id
                WHERE s.id IN (\(marks)) AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled = 0
                  AND COALESCE(s.last_seen_at, s.created_at) + o.session_idle_minutes * 60000 > ?
                """, arguments: finalArguments).map(SessionID.init(unchecked:)))
        }
    }

    /// The user's live sessions, most recently used first.
    public func sessions(of user: UserID) async throws -> [SessionInfo] {
        let now = Self.nowMillis()
        return try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.id, s.created_at, COALESCE(s.last_seen_at, s.created_at) AS last_seen, s.expires_at, s.source,
                       s.user_agent
                FROM sessions s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = u.org_id
                WHERE s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ?
                  AND COALESCE(s.last_seen_at, s.created_at) + o.session_idle_minutes * 60000 > ?
                ORDER BY last_seen DESC, s.id
                """, arguments: [user.rawValue, now, now]).map { row in
                SessionInfo(id: SessionID(unchecked: row["id"]), createdAtMillis: row["created_at"],
                            lastSeenMillis: row["last_seen"], expiresAtMillis: row["expires_at"],
                            source: row["source"], userAgent: row["user_agent"])
            }
        }
    }

    /// Ends one session of the user; `notFound` when the user has no such live session (another
    /// user's session is answered the same way).
    public func revokeSession(_ id: SessionID, of user: UserID) async throws {
        let now = Self.nowMillis()
        let ended = try await writeImmediate { db in
            try Self.revokeSessions(db, where: "id = ? AND user_id = ?", arguments: [id.rawValue, user.rawValue], at: now)
        }
        if ended.isEmpty { throw StoreError.notFound("no such session") }
    }

    /// Ends every live session of the user, except `keeping` when given. Returns those ended.
    public func revokeSessions(of user: UserID, keeping kept: SessionID? = nil) async throws -> [SessionID] {
        let now = Self.nowMillis()
        return try await writeImmediate { db in
            if let kept {
                return try Self.revokeSessions(db, where: "user_id = ? AND id <> ?", arguments: [user.rawValue, kept.rawValue],
                                               at: now)
            }
            return try Self.revokeSessions(db, where: "user_id = ?", arguments: [user.rawValue], at: now)
        }
    }

    /// An organization admin ends every session of a user of their organization; `notFound` for
    /// a user of another organization.
    public func revokeSessions(of user: UserID, in organization: OrganizationID) async throws -> [SessionID] {
        let now = Self.nowMillis()
        return try await writeImmediate { db in
            guard try String.fetchOne(db, sql: "SELECT org_id FROM users WHERE id = ?", arguments: [user.rawValue])
                    == organization.rawValue else {
                throw StoreError.notFound("no such user in your organization")
            }
            return try Self.revokeSessions(db, where: "user_id = ?", arguments: [user.rawValue], at: now)
        }
    }

    /// Replaces the password hash after a successful login with weaker parameters, unless the
    /// password changed meanwhile (then the stored hash is no longer `old`).
    public func upgradePasswordHash(user: UserID, from old: String, to new: String) async throws {
        try await writeImmediate { db in
            try db.execute(sql: "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
                           arguments: [new, user.rawValue, old])
        }
    }
}
