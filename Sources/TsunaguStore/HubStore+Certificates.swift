import Foundation
import GRDB
import TsunaguCore

/// The client-certificate second factor (white paper 5.17): users register the SHA-256
/// fingerprints of their certificates; an organization may require one on every login.
extension HubStore {
    public func registerCertificate(user: UserID, fingerprint: [UInt8]) async throws {
        guard fingerprint.count == 32 else { throw StoreError.invalid("fingerprint: 32 bytes of SHA-256") }
        let now = Self.nowMillis()
        try await writeImmediate { db in
            try db.execute(sql: """
                INSERT INTO user_certificates (user_id, fingerprint, created_at) VALUES (?, ?, ?)
                ON CONFLICT DO NOTHING
                """, arguments: [user.rawValue, Data(fingerprint), now])
        }
    }

    /// Removes a registered certificate and ends the sessions bound to it; nil when the user
    /// had no such certificate, else the sessions ended (for the caller to close their sockets).
    public func removeCertificate(user: UserID, fingerprint: [UInt8]) async throws -> [SessionID]? {
        let now = Self.nowMillis()
        return try await writeImmediate { db -> [SessionID]? in
            try db.execute(sql: "DELETE FROM user_certificates WHERE user_id = ? AND fingerprint = ?",
                           arguments: [user.rawValue, Data(fingerprint)])
            guard db.changesCount > 0 else { return nil }
            return try Self.revokeSessions(db, where: "user_id = ? AND certificate_fingerprint = ?",
                                           arguments: [user.rawValue, Data(fingerprint)], at: now)
        }
    }

    /// A user's registered certificates, oldest first.
    public func certificates(user: UserID) async throws -> [(fingerprint: [UInt8], createdAtMillis: Int64)] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT fingerprint, created_at FROM user_certificates WHERE user_id = ? ORDER BY created_at, fingerprint
                """, arguments: [user.rawValue]).map { row in
                (Array(row["fingerprint"] as Data), row["created_at"] as Int64)
            }
        }
    }

    public func isCertificateRegistered(user: UserID, fingerprint: [UInt8]) async throws -> Bool {
        try await read { db in try Self.isCertificateRegistered(db, user: user, fingerprint: fingerprint) }
    }

    public func requiresClientCertificate(_ organization: OrganizationID) async throws -> Bool {
        try await read { db in try Self.requiresClientCertificate(db, organization) }
    }

    static func isCertificateRegistered(_ db: Database, user: UserID, fingerprint: [UInt8]) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM user_certificates WHERE user_id = ? AND fingerprint = ?",
                          arguments: [user.rawValue, Data(fingerprint)], cached: true) ?? false
    }

    static func requiresClientCertificate(_ db: Database, _ organization: OrganizationID) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT require_client_certificate FROM organizations WHERE id = ?",
                          arguments: [organization.rawValue], cached: true) ?? false
    }

    /// Sets the requirement. Switching it on ends, in the same transaction, every live session
    /// of the organization that is not bound to a certificate, and answers them (for the caller
    /// to close their sockets).
    @discardableResult
    public func setRequiresClientCertificate(_ organization: OrganizationID, _ required: Bool) async throws -> [SessionID] {
        let now = Self.nowMillis()
        return try await writeImmediate { db -> [SessionID] in
            try db.execute(sql: "UPDATE organizations SET require_client_certificate = ? WHERE id = ?",
                           arguments: [required, organization.rawValue])
            guard required else { return [] }
            return try Self.revokeSessions(
                db, where: "certificate_fingerprint IS NULL AND user_id IN (SELECT id FROM users WHERE org_id = ?)",
                arguments: [organization.rawValue], at: now)
        }
    }
}

extension HubStore {
    public func passwordPolicy(_ organization: OrganizationID) async throws -> PasswordPolicy {
        try await read { db in try Self.passwordPolicy(db, organization) }
    }

    static func passwordPolicy(_ db: Database, _ organization: OrganizationID) throws -> PasswordPolicy {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT password_min_length, password_min_classes FROM organizations WHERE id = ?
            """, arguments: [organization.rawValue]) else { return PasswordPolicy() }
        return PasswordPolicy(minimumLength: row["password_min_length"], minimumClasses: row["password_min_classes"])
    }

    public func setPasswordPolicy(_ organization: OrganizationID, _ policy: PasswordPolicy) async throws {
        try await writeImmediate { db in
            try db.execute(sql: "UPDATE organizations SET password_min_length = ?, password_min_classes = ? WHERE id = ?",
                           arguments: [policy.minimumLength, policy.minimumClasses, organization.rawValue])
        }
    }
}
