import Foundation
import GRDB
import TsunaguCore
import TsunaguCrypto

/// What the invitation or registration mail says; the node renders it (it knows the public URL).
public struct ActivationMail: Sendable {
    public var subject: String
    public var body: String
    public init(subject: String, body: String) {
        self.subject = subject
        self.body = body
    }
}

/// What completing a mailed link did.
public struct LinkCompletion: Sendable {
    public var user: UserRecord
    /// The account was active already: the link reset its password.
    public var wasPasswordReset: Bool
    /// Sessions the reset ended (their sockets close on every node).
    public var endedSessions: [SessionID]
}

/// Invitations, activation links, and account changes by organization admins.
extension HubStore {
    /// Creates a not-yet-active user (no password) in the organization and queues the activation
    /// mail, in one transaction. `conflict` when the address is taken.
    public func invite(email: String, name: String, role: OrganizationRole, profession: Profession = .other,
                       organization: OrganizationID, linkLifetimeSeconds: Int64,
                       mail: @escaping @Sendable (_ token: String) -> ActivationMail) async throws -> UserRecord
    {
        let user = try createUser(organization: organization, email: email, name: name, passwordHash: nil, role: role,
                                  profession: profession)
        try await issueActivationLink(for: user, lifetimeSeconds: linkLifetimeSeconds, mail: mail)
        return user
    }

    /// A new single-use link for `user` (invited, or asking again), mailed through the outbox.
    public func issueActivationLink(for user: UserRecord, lifetimeSeconds: Int64,
                                    mail: @escaping @Sendable (_ token: String) -> ActivationMail) async throws {
        let (token, hash) = OpaqueToken.generate()
        let now = Self.nowMillis()
        let content = mail(token)
        try await writeImmediate { [self] db in
            try db.execute(sql: """
                INSERT INTO activation_links (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)
                """, arguments: [Data(hash), user.id.rawValue, now, now + lifetimeSeconds * 1000])
            try enqueueMail(db, recipient: user.email, subject: content.subject, body: content.body, at: now)
        }
    }

    /// Activates with a link token: sets name and password, uses the link up. On an account that
    /// is already active the link is a password reset (docs/security.md, "Password reset"): the
    /// name stays as it is (`name` may be nil), every session of the account ends, and `notice`
    /// is queued to the account's address. Either way every other outstanding link of the account
    /// is used up too. All in one transaction. Errors: `notFound` (no such link), `conflict`
    /// (already used), `invalid` (expired, or no name for an activation).
    /// `check` sees the account's e-mail address and its organization's password policy and
    /// returns a problem, if any (then nothing changes and the link stays usable).
    public func completeActivation(token: String, name: String?, passwordHash: String,
                                   notice: ActivationMail? = nil,
                                   check: @escaping @Sendable (_ email: String, _ policy: PasswordPolicy) -> String?)
        async throws -> LinkCompletion
    {
        let hash = Data(OpaqueToken.hash(token))
        let now = Self.nowMillis()
        let trimmed = name?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let trimmed, !(1...200).contains(trimmed.count) { throw StoreError.invalid("name: 1 to 200 characters") }
        let (userID, ended, wasReset) = try await writeImmediate { [self] db -> (UserID, [SessionID], Bool) in
            guard let link = try Row.fetchOne(db, sql: "SELECT * FROM activation_links WHERE token_hash = ?"
                                                + db.dialect.forUpdate, arguments: [hash]) else {
                throw StoreError.notFound("no such activation link")
            }
            if (link["used_at"] as Int64?) != nil { throw StoreError.conflict("the activation link was already used") }
            if (link["expires_at"] as Int64) < now { throw StoreError.invalid("the activation link has expired; ask for a new one") }
            let id = UserID(unchecked: link["user_id"])
            guard let account = try Row.fetchOne(db, sql: """
                SELECT email, org_id, password_hash IS NOT NULL AS active FROM users WHERE id = ?
                """, arguments: [id.rawValue]) else { throw StoreError.notFound("no such user") }
            let isReset: Bool = account["active"]
            let email = try open(account["email"], table: "users", column: "email", row: id.rawValue)
            let policy = try Self.passwordPolicy(db, OrganizationID(unchecked: account["org_id"]))
            AuditScope.nameSubject(organization: OrganizationID(unchecked: account["org_id"]), user: id)
            if let problem = check(email, policy) { throw StoreError.invalid(problem) }
            // This link and every other outstanding one of the account are used up.
            try db.execute(sql: "UPDATE activation_links SET used_at = ? WHERE user_id = ? AND used_at IS NULL",
                           arguments: [now, id.rawValue])
            if isReset {
                try db.execute(sql: "UPDATE users SET password_hash = ? WHERE id = ?", arguments: [passwordHash, id.rawValue])
                let ended = try Self.revokeSessions(db, where: "user_id = ?", arguments: [id.rawValue], at: now)
                // The link turned out to reset a password: that is recorded with it, in this transaction.
                AuditScope.expand { entry in
                    var reset = entry
                    reset.action = "password.reset"
                    reset.details = "\(ended.count) sessions ended"
                    return [entry, reset]
                }
                if let notice {
                    try enqueueMail(db, recipient: email, subject: notice.subject, body: notice.body, at: now)
                }
                return (id, ended, true)
            }
            guard let trimmed else { throw StoreError.invalid("name: 1 to 200 characters") }
            try db.execute(sql: "UPDATE users SET name = ?, password_hash = ? WHERE id = ?",
                           arguments: [seal(trimmed, table: "users", column: "name", row: id.rawValue), passwordHash,
                                       id.rawValue])
            return (id, [], false)
        }
        guard let user = try await user(id: userID) else { throw StoreError.notFound("no such user") }
        return LinkCompletion(user: user, wasPasswordReset: wasReset, endedSessions: ended)
    }

    /// Whether the account has been activated (has a password).
    public func isActivated(_ id: UserID) async throws -> Bool {
        try await read { db in
            try Bool.fetchOne(db, sql: "SELECT password_hash IS NOT NULL FROM users WHERE id = ?", arguments: [id.rawValue]) ?? false
        }
    }

    /// An admin's change to a user of their own organization. Disabling revokes every session of
    /// the user and returns their ids, so the node can close the sockets everywhere.
    public func updateUser(_ id: UserID, in organization: OrganizationID, role: OrganizationRole?, disabled: Bool?,
                           profession: Profession? = nil)
        async throws -> (user: UserRecord, revokedSessions: [SessionID])
    {
        let now = Self.nowMillis()
        let revoked = try await writeImmediate { db -> [SessionID] in
            guard try String.fetchOne(db, sql: "SELECT org_id FROM users WHERE id = ?", arguments: [id.rawValue])
                    == organization.rawValue else {
                throw StoreError.notFound("no such user in your organization")
            }
            if let role {
                try db.execute(sql: "UPDATE users SET org_role = ? WHERE id = ?", arguments: [role.rawValue, id.rawValue])
            }
            if let profession {
                try db.execute(sql: "UPDATE users SET profession = ? WHERE id = ?",
                               arguments: [profession.rawValue, id.rawValue])
            }
            guard let disabled else { return [] }
            try db.execute(sql: "UPDATE users SET disabled = ? WHERE id = ?", arguments: [disabled, id.rawValue])
            guard disabled else { return [] }
            return try Self.revokeSessions(db, where: "user_id = ?", arguments: [id.rawValue], at: now)
        }
        guard let user = try await user(id: id) else { throw StoreError.notFound("no such user in your organization") }
        return (user, revoked)
    }

    /// Every user of the organization, for its admins: invited (not yet activated), active and
    /// disabled, ordered by when they were added.
    public func members(ofOrganization organization: OrganizationID) async throws -> [OrganizationMember] {
        try await read { [self] db in
            try Row.fetchAll(db, sql: """
                SELECT *, password_hash IS NOT NULL AS activated FROM users WHERE org_id = ? ORDER BY created_at, id
                """, arguments: [organization.rawValue])
            .map { OrganizationMember(user: try userRecord($0), activated: $0["activated"]) }
        }
    }
}
