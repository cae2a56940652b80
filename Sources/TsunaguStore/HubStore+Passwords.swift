import Foundation
import GRDB
import TsunaguCore
import TsunaguCrypto

extension HubStore {
    /// An operator's password reset (`tsunagu admin reset-password`): the account with this
    /// e-mail address gets the new hash, is activated if it was only invited, and every one of its
    /// live sessions is revoked in the same transaction (and recorded for every node, docs/security.md
    /// "Durable revocation"). Returns the account and the sessions that
    /// ended. `notFound` when no account has the address.
    public func resetPassword(email: String, passwordHash: String) async throws -> (user: UserRecord, revoked: [SessionID]) {
        let emailIndex = index(email: BlindIndex.normalize(email: email))
        let now = Self.nowMillis()
        let (id, revoked) = try await writeImmediate { db -> (String, [SessionID]) in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, org_id FROM users WHERE email_index = ?",
                                             arguments: [emailIndex]) else {
                throw StoreError.notFound("no account with that e-mail address")
            }
            let id: String = row["id"], organization: String = row["org_id"]
            try db.execute(sql: "UPDATE users SET password_hash = ? WHERE id = ?", arguments: [passwordHash, id])
            // Recorded as revocations too: every node's RevocationFollower closes the account's
            // open sockets, though no node handled this request.
            let sessions = try Self.revokeSessions(db, where: "user_id = ?", arguments: [id], at: now)
            // The caller's audit entry (`recording`) commits here: whose account, how many sessions.
            AuditScope.expand { record in
                var entry = record
                entry.organization = entry.organization ?? OrganizationID(unchecked: organization)
                entry.target = entry.target ?? id
                entry.details = "\(sessions.count) session(s) revoked"
                return [entry]
            }
            return (id, sessions)
        }
        guard let user = try await user(id: UserID(unchecked: id)) else { throw StoreError.notFound("no account with that e-mail address") }
        return (user, revoked)
    }
}
