import Foundation
import GRDB
import TsunaguCore
import TsunaguCrypto

extension HubStore {
    // MARK: organizations

    /// Creates an organization; `conflict` when the name is taken (names are unique per store).
    public func createOrganization(name: String) throws -> OrganizationRecord {
        let id = OrganizationID.random()
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 200 else {
            throw StoreError.invalid("organization name: 1 to 200 characters")
        }
        let sealed = seal(trimmed, table: "organizations", column: "name", row: id.rawValue)
        let nameIndex = index(organizationName: trimmed)
        try writeImmediateSync { db in
            try db.dialect.serialize(db, .identity)
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM organizations WHERE name_index = ?",
                                 arguments: [nameIndex]) == true {
                throw StoreError.conflict("an organization with that name exists")
            }
            try db.execute(sql: "INSERT INTO organizations (id, name, name_index, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [id.rawValue, sealed, nameIndex, Self.nowMillis()])
        }
        return OrganizationRecord(id: id, name: trimmed)
    }

    public func organization(named name: String) throws -> OrganizationRecord? {
        let nameIndex = index(organizationName: name.trimmingCharacters(in: .whitespacesAndNewlines))
        return try read { db in
            try Row.fetchOne(db, sql: "SELECT id, name FROM organizations WHERE name_index = ?",
                             arguments: [nameIndex])
        }.map { try organizationRecord($0) }
    }

    public func organization(id: OrganizationID) async throws -> OrganizationRecord? {
        try await read { [self] db in
            try Row.fetchOne(db, sql: "SELECT id, name FROM organizations WHERE id = ?", arguments: [id.rawValue])
                .map { try organizationRecord($0) }
        }
    }

    /// The oldest organization: `admin add-user` without `--org` puts users there.
    public func firstOrganization() throws -> OrganizationRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT id, name FROM organizations ORDER BY created_at, id LIMIT 1")
        }.map { try organizationRecord($0) }
    }

    public func organizationCount() throws -> Int {
        try read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM organizations") ?? 0 }
    }

    private func organizationRecord(_ row: Row) throws -> OrganizationRecord {
        let id = OrganizationID(unchecked: row["id"])
        return OrganizationRecord(id: id, name: try open(row["name"], table: "organizations", column: "name",
                                                         row: id.rawValue))
    }

    // MARK: users

    /// Creates an active user. `conflict` when the e-mail address is taken.
    public func createUser(organization: OrganizationID, email: String, name: String, passwordHash: String?,
                           role: OrganizationRole, profession: Profession = .other) throws -> UserRecord {
        let id = UserID.random()
        let email = BlindIndex.normalize(email: email)
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard email.contains("@"), email.utf8.count <= 254 else { throw StoreError.invalid("email: not an address") }
        guard (1...200).contains(name.count) else { throw StoreError.invalid("name: 1 to 200 characters") }
        let emailIndex = index(email: email)
        AuditScope.nameTarget(id.rawValue)
        let sealedEmail = seal(email, table: "users", column: "email", row: id.rawValue)
        let sealedName = seal(name, table: "users", column: "name", row: id.rawValue)
        try writeImmediateSync { db in
            try db.dialect.serialize(db, .identity)
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE email_index = ?", arguments: [emailIndex]) == true {
                throw StoreError.conflict("a user with that e-mail address exists")
            }
            try db.execute(sql: """
                INSERT INTO users (id, org_id, email, email_index, name, password_hash, org_role, profession, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id.rawValue, organization.rawValue, sealedEmail, emailIndex, sealedName,
                                 passwordHash, role.rawValue, profession.rawValue, Self.nowMillis()])
        }
        let user = UserRecord(id: id, organization: organization, email: email, name: name, role: role, disabled: false,
                              profession: profession)
        names.set(user.person)
        return user
    }

    /// The user and their password hash, for login.
    public func userForLogin(email: String) async throws -> (user: UserRecord, passwordHash: String?)? {
        let emailIndex = index(email: email)
        return try await read { [self] db -> (user: UserRecord, passwordHash: String?)? in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM users WHERE email_index = ?",
                                             arguments: [emailIndex]) else { return nil }
            return (try userRecord(row), row["password_hash"])
        }
    }

    public func user(email: String) async throws -> UserRecord? {
        try await userForLogin(email: email)?.user
    }

    public func user(id: UserID) async throws -> UserRecord? {
        try await read { [self] db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [id.rawValue])
                .map { try userRecord($0) }
        }
    }

    func userRecord(_ row: Row) throws -> UserRecord {
        let id = UserID(unchecked: row["id"])
        let name = try open(row["name"], table: "users", column: "name", row: id.rawValue)
        let user = UserRecord(
            id: id, organization: OrganizationID(unchecked: row["org_id"]),
            email: try open(row["email"], table: "users", column: "email", row: id.rawValue),
            name: name, role: OrganizationRole(rawValue: row["org_role"]) ?? .member,
            disabled: row["disabled"], profession: Self.profession(row))
        names.set(user.person)
        return user
    }

    /// The row's `profession`; an unknown value (written by a newer version) reads as `other`.
    static func profession(_ row: Row) -> Profession {
        (row["profession"] as String?).flatMap(Profession.init(rawValue:)) ?? .other
    }

    /// Display names for ids, from memory where known.
    func people(_ ids: Set<UserID>, _ db: Database) throws -> [UserID: Person] {
        var result: [UserID: Person] = [:]
        var missing: [String] = []
        for id in ids {
            if let person = names.get(id) { result[id] = person } else { missing.append(id.rawValue) }
        }
        if !missing.isEmpty {
            let marks = Array(repeating: "?", count: missing.count).joined(separator: ",")
            for row in try Row.fetchAll(db, sql: "SELECT id, name, profession FROM users WHERE id IN (\(marks))",
                                        arguments: SQLArguments(missing)) {
                let id = UserID(unchecked: row["id"])
                let person = Person(id: id, name: try open(row["name"], table: "users", column: "name", row: id.rawValue),
                                    profession: Self.profession(row))
                names.set(person)
                result[id] = person
            }
        }
        return result
    }

    // MARK: sessions

    /// Starts a session; the token is returned once and only its hash is stored. With
    /// `certificateFingerprint` the session is bound to that client certificate.
    /// `source` and `userAgent` are shown to the user in their list of sessions.
    public func createSession(user: UserRecord, lifetimeSeconds: Int64, certificateFingerprint: [UInt8]? = nil,
                              source: String? = nil, userAgent: String? = nil) async throws
        -> (token: String, session: SessionRecord)
    {
        let (token, hash) = OpaqueToken.generate()
        let id = SessionID.random()
        let now = Self.nowMillis()
        let expires = now + lifetimeSeconds * 1000
        try await writeImmediate { db in
            try db.execute(sql: """
                INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at, certificate_fingerprint,
                                      last_seen_at, source, user_agent)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id.rawValue, user.id.rawValue, Data(hash), now, expires, certificateFingerprint.map { Data($0) },
                                 now, source, userAgent.map { String($0.prefix(256)) }])
        }
        return (token, SessionRecord(id: id, user: user, expiresAtMillis: expires,
                                     certificateFingerprint: certificateFingerprint, lastSeenMillis: now))
    }

    /// The live session a bearer token names: not expired, not revoked, its user not disabled.
    public func session(token: String) async throws -> SessionRecord? {
        let hash = Data(OpaqueToken.hash(token))
        let now = Self.nowMillis()
        return try await read { [self] db in try liveSession(db, tokenHash: hash, now: now) }
    }

    /// The live session of a token hash: not revoked, not expired, not idle longer than its
    /// organization allows (`session_idle_minutes`), its user not disabled.
    func liveSession(_ db: Database, tokenHash: Data, now: Int64) throws -> SessionRecord? {
        // Cached statement: this runs once per WebSocket auth, the hottest read of a connection storm.
        guard let row = try Row.fetchOne(db, sql: """
            SELECT s.id AS session_id, s.expires_at, s.certificate_fingerprint AS session_certificate,
                   COALESCE(s.last_seen_at, s.created_at) AS session_last_seen, u.*
            FROM sessions s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = u.org_id
            WHERE s.token_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled = 0
              AND COALESCE(s.last_seen_at, s.created_at) + o.session_idle_minutes * 60000 > ?
            """, arguments: [tokenHash, now, now], cached: true) else { return nil }
        return SessionRecord(id: SessionID(unchecked: row["session_id"]), user: try userRecord(row),
                             expiresAtMillis: row["expires_at"],
                             certificateFingerprint: (row["session_certificate"] as Data?).map { Array($0) },
                             lastSeenMillis: row["session_last_seen"])
    }

    /// Ends the session and records the revocation for every node (`HubStore+Revocations`).
    public func revokeSession(_ id: SessionID) async throws {
        let now = Self.nowMillis()
        _ = try await writeImmediate { db in
            try Self.revokeSessions(db, where: "id = ?", arguments: [id.rawValue], at: now)
        }
    }
}
