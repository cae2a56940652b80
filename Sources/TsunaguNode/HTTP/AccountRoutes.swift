import Foundation
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// Registration by e-mailed, single-use links, and the organization admin's user management
/// (docs/protocol.md §6; white paper 5.16–5.18).
struct AccountRoutes: Sendable {
    let context: NodeContext

    private struct RegistrationBody: Decodable { var email: String }

    /// `POST /v1/registrations {email}` → 202 always. An address an admin invited (or an active
    /// account, whose link then sets a new password) gets a new link by mail; an unknown or
    /// disabled address gets nothing — and the same answer, so nobody learns which exist.
    /// Throttled per address and per source (store-wide); answered after a fixed floor so that
    /// known and unknown addresses take the same time (docs/security.md, "Unauthenticated work").
    func register(_ request: APIRequest) async throws -> APIResponse {
        let started = ContinuousClock.now
        let body = try request.decode(RegistrationBody.self)
        guard body.email.contains("@"), body.email.utf8.count <= 254 else { throw HubError.badRequest("email: not an address") }
        if let until = try await context.store.reserveRequest(kind: "registration", email: body.email, source: request.source,
                                                              policy: context.configuration.registrationThrottle) {
            try? await Task.sleep(until: started + context.configuration.registrationAnswerFloor, clock: .continuous)
            throw rateLimited(until: until)
        }
        if let user = try await context.store.user(email: body.email), !user.disabled {
            try await context.audited("registration.link", organization: user.organization, actor: nil,
                                      target: user.id.rawValue, source: request.source) {
                try await context.store.issueActivationLink(for: user, lifetimeSeconds: context.configuration.linkLifetimeSeconds,
                                                            mail: context.activationMail(name: user.name))
            }
            context.mailWorker?.wake()
        }
        try? await Task.sleep(until: started + context.configuration.registrationAnswerFloor, clock: .continuous)
        return .json(.accepted) { $0.field("status", "accepted") }
    }

    private struct CompleteBody: Decodable {
        var token: String
        /// Needed to activate; ignored when the link resets the password of an active account.
        var name: String?
        var password: String
    }

    /// `POST /v1/registrations/complete {token,name?,password}` → 200 {user}. On an account that
    /// is active already this is a password reset: the name stays, every session of the account
    /// ends (and its sockets, on every node), every other link of it is used up, and a notice
    /// without link or secret is mailed to it (docs/security.md, "Password reset").
    func complete(_ request: APIRequest) async throws -> APIResponse {
        let body = try request.decode(CompleteBody.self)
        guard (1...512).contains(body.token.utf8.count) else { throw HubError.notFound("no such activation link") }
        guard body.password.utf8.count <= 1024 else { throw HubError.badRequest("password: at most 1024 bytes") }
        // The link first (a read): an unknown, used or expired one costs no scrypt. Every
        // attempt counts against the source; one with a usable link also against its address.
        let store = context.store
        let policy = context.configuration.activationThrottle
        let email: String
        do {
            email = try await store.usableActivationLink(token: body.token)
        } catch {
            if let until = try await store.reserveRequest(kind: "activation", email: nil, source: request.source,
                                                          policy: policy) {
                throw rateLimited(until: until)
            }
            throw error
        }
        if let until = try await store.reserveRequest(kind: "activation", email: email, source: request.source,
                                                      policy: policy) {
            throw rateLimited(until: until)
        }
        let hash = try await context.passwords.hash(body.password)
        let password = body.password
        // The policy needs the account's address, which the link names: checked inside the store's transaction.
        // Whose link it is shows only inside the transaction, which names the user (and their
        // organization) in the entry, and adds `password.reset` when the link resets a password.
        let completion = try await context.audited("registration.complete", organization: nil, actor: nil,
                                                   source: request.source) {
            try await context.store.completeActivation(
                token: body.token, name: body.name, passwordHash: hash, notice: context.passwordChangedMail(),
                check: { email, policy in policy.problem(with: password, email: email) })
        }
        let user = completion.user
        if completion.wasPasswordReset {
            for ended in completion.endedSessions { context.sessionRevoked(ended) }
            context.mailWorker?.wake()
        }
        return .json { w in
            w.key("user")
            user.writeSummary(into: &w)
        }
    }

    private func rateLimited(until: Int64) -> HubError {
        HubError(code: .rateLimited, message: "too many requests; try again after \(context.time.format(millis: until))")
    }

    private struct InviteBody: Decodable {
        var email: String
        var name: String
        var role: String?
        var profession: String?
    }

    /// `POST /v1/admin/users {email,name,role?,profession?}`: an organization admin invites →
    /// 201 {id,email,name,role,profession,status:"invited"}, the same answer (no sooner than a
    /// fixed floor) whether or not the address has an account, so that it tells nobody which
    /// addresses exist: a new address gets the activation link by mail and `id` is its new user's;
    /// one that has an account, in this organization or another, gets a mail saying so, nothing
    /// about it changes, and `id` is a fresh id of the same form that names no user
    /// (docs/security.md, "Admin invitations").
    func invite(_ request: APIRequest) async throws -> APIResponse {
        let started = ContinuousClock.now
        let session = try await context.authenticateAdmin(request)
        let body = try request.decode(InviteBody.self)
        guard let role = OrganizationRole(rawValue: body.role ?? "member") else {
            throw HubError.badRequest("role: must be \"admin\" or \"member\"")
        }
        let profession = try Self.profession(body.profession) ?? .other
        context.monitor.invitationSent(by: session.user)
        let outcome = try await context.audited("user.invite", organization: session.user.organization, actor: session.user.id,
                                      source: request.source,
                                      details: "\(body.email) role \(role.rawValue) profession \(profession.rawValue)") {
            try await context.store.inviteByAddress(email: body.email, name: body.name, role: role, profession: profession,
                                                    organization: session.user.organization,
                                                    linkLifetimeSeconds: context.configuration.linkLifetimeSeconds,
                                                    mail: context.activationMail(name: body.name),
                                                    alreadyRegistered: context.alreadyRegisteredMail(invitedBy: session.user))
        }
        context.mailWorker?.wake()
        try? await Task.sleep(until: started + context.configuration.adminInviteAnswerFloor, clock: .continuous)
        let email = BlindIndex.normalize(email: body.email)
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        let id: UserID = switch outcome {
        case .invited(let user): user.id
        case .alreadyRegistered: UserID.random()
        }
        return .json(.created) { w in
            w.field("id", id.rawValue)
            w.field("email", email)
            w.field("name", name)
            w.field("role", role.rawValue)
            w.field("profession", profession.rawValue)
            w.field("status", "invited")
        }
    }

    private struct PatchBody: Decodable {
        var role: String?
        var disabled: Bool?
        var profession: String?
    }

    /// `PATCH /v1/admin/users/{id} {role?,disabled?,profession?}`: disabling ends the user's
    /// sessions and closes their sockets on every node.
    func update(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        guard let id = request.parameters["id"].flatMap(UserID.init) else {
            throw HubError.notFound("no such user in your organization")
        }
        let body = try request.decode(PatchBody.self)
        var role: OrganizationRole?
        if let raw = body.role {
            guard let parsed = OrganizationRole(rawValue: raw) else { throw HubError.badRequest("role: must be \"admin\" or \"member\"") }
            role = parsed
        }
        let profession = try Self.profession(body.profession)
        guard role != nil || body.disabled != nil || profession != nil else {
            throw HubError.badRequest("role, disabled or profession: give at least one")
        }
        if id == session.user.id && (body.disabled == true || role == .member) {
            throw HubError.conflict("admins cannot disable or demote themselves")
        }
        // One change, one transaction, one entry naming every field changed.
        var changes: [String] = []
        if let role { changes.append("role \(role.rawValue)") }
        if let disabled = body.disabled { changes.append(disabled ? "disabled" : "enabled") }
        if let profession { changes.append("profession \(profession.rawValue)") }
        let (user, revoked) = try await context.audited("user.update", organization: session.user.organization,
                                                        actor: session.user.id, target: id.rawValue,
                                                        source: request.source, details: changes.joined(separator: ", ")) {
            try await context.store.updateUser(id, in: session.user.organization, role: role,
                                               disabled: body.disabled, profession: profession)
        }
        for revokedSession in revoked { context.sessionRevoked(revokedSession) }
        let activated = try await context.store.isActivated(id)
        return .json { Self.write(user, status: Self.status(user, activated: activated), into: &$0) }
    }

    /// `GET /v1/admin/users`: every user of the admin's organization, with `status` invited
    /// (the link not used yet), active or disabled.
    func list(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        let members = try await context.store.members(ofOrganization: session.user.organization)
        return .json { w in
            w.objects("users", members) { w, member in
                Self.write(member.user, status: Self.status(member.user, activated: member.activated), into: &w)
            }
        }
    }

    static func status(_ user: UserRecord, activated: Bool) -> String {
        user.disabled ? "disabled" : activated ? "active" : "invited"
    }

    /// A `profession` field: absent → nil; a name outside the list → `bad_request` naming the field.
    static func profession(_ raw: String?) throws -> Profession? {
        guard let raw else { return nil }
        guard let profession = Profession(rawValue: raw) else {
            throw HubError.badRequest("profession: one of \(Profession.wireNames)")
        }
        return profession
    }

    private struct PolicyBody: Decodable {
        var require_client_certificate: Bool?
        var password_min_length: Int?
        var password_min_classes: Int?
        var session_idle_minutes: Int?
    }

    /// `PATCH /v1/admin/organization {require_client_certificate?, password_min_length?,
    /// password_min_classes?, session_idle_minutes?}`: the organization's security policy.
    func updatePolicy(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        let organization = session.user.organization
        let body = try request.decode(PolicyBody.self)
        let store = context.store
        var policy = try await store.passwordPolicy(organization)
        if let length = body.password_min_length {
            guard PasswordPolicy.allowedMinimumLengths.contains(length) else {
                throw HubError.badRequest("password_min_length: from 8 to 128")
            }
            policy.minimumLength = length
        }
        if let classes = body.password_min_classes {
            guard PasswordPolicy.allowedMinimumClasses.contains(classes) else {
                throw HubError.badRequest("password_min_classes: from 1 to 4")
            }
            policy.minimumClasses = classes
        }
        if body.password_min_length != nil || body.password_min_classes != nil {
            try await context.audited("policy.password", organization: organization, actor: session.user.id,
                                      target: organization.rawValue, source: request.source,
                                      details: "min length \(policy.minimumLength), min classes \(policy.minimumClasses)") {
                try await store.setPasswordPolicy(organization, policy)
            }
        }
        if let minutes = body.session_idle_minutes {
            guard HubStore.allowedSessionIdleMinutes.contains(minutes) else {
                throw HubError.badRequest("session_idle_minutes: from 5 to 1440")
            }
            try await context.audited("policy.session-idle", organization: organization, actor: session.user.id,
                                      target: organization.rawValue, source: request.source, details: "\(minutes) minutes") {
                try await store.setSessionIdleMinutes(organization, minutes)
            }
        }
        if let required = body.require_client_certificate {
            // Switching it on ends every session of the organization not bound to a certificate
            // (the caller's too, unless it is bound), and closes their sockets.
            let ended = try await context.audited("policy.client-certificate", organization: organization,
                                                  actor: session.user.id, target: organization.rawValue,
                                                  source: request.source, details: required ? "required" : "optional") {
                try await store.setRequiresClientCertificate(organization, required)
            }
            for ended in ended { context.sessionRevoked(ended) }
        }
        return try await policyResponse(organization)
    }

    /// `GET /v1/admin/organization`: the organization's security policy, as the PATCH answers it.
    func policy(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        return try await policyResponse(session.user.organization)
    }

    private func policyResponse(_ organization: OrganizationID) async throws -> APIResponse {
        let store = context.store
        let policy = try await store.passwordPolicy(organization)
        let required = try await store.requiresClientCertificate(organization)
        let idleMinutes = try await store.sessionIdleMinutes(organization)
        return .json { w in
            w.field("require_client_certificate", required)
            w.field("password_min_length", policy.minimumLength)
            w.field("password_min_classes", policy.minimumClasses)
            w.field("session_idle_minutes", idleMinutes)
        }
    }

    static func write(_ user: UserRecord, status: String, into w: inout JSONWriter) {
        w.field("id", user.id.rawValue)
        w.field("email", user.email)
        w.field("name", user.name)
        w.field("role", user.role.rawValue)
        w.field("profession", user.profession.rawValue)
        w.field("status", status)
    }
}

extension NodeContext {
    func authenticateAdmin(_ request: APIRequest) async throws -> SessionRecord {
        let session = try await authenticate(request)
        guard session.user.role == .admin else { throw HubError.forbidden("organization admins only") }
        return session
    }

    /// The notice after a password reset: no link, no secret; it tells the owner of the address
    /// to act if it was not them.
    func passwordChangedMail() -> ActivationMail {
        ActivationMail(subject: "Tsunagu: your password was changed / パスワードが変更されました", body: """
            The password of your Tsunagu account was changed just now, through a link mailed to this
            address. Every session of the account has been signed out.

            If this was not you, tell your organization's administrator at once.

            Tsunagu アカウントのパスワードが変更されました。すべてのセッションはログアウトされました。
            心当たりがない場合は、すぐに組織の管理者に連絡してください。
            """)
    }

    /// To an address an admin invited that has an account already: no link, nothing changed; how
    /// to sign in, and whom to ask if the invitation was meant to move the account.
    func alreadyRegisteredMail(invitedBy admin: UserRecord) -> ActivationMail {
        let base = configuration.publicURL
        return ActivationMail(subject: "Tsunagu: you already have an account / アカウントは登録済みです", body: """
            \(admin.name) invited this address to Tsunagu, but it already has a Tsunagu account,
            so nothing was created and nothing about your account changed.

            Sign in as usual at \(base)/. If you forgot your password, ask for a new link on the
            sign-in page. An account belongs to one organization: to move it, ask your own
            organization's administrator.

            \(admin.name) さんがこのアドレスを Tsunagu に招待しましたが、このアドレスのアカウントは
            すでに登録されているため、何も作成・変更されていません。いつもどおりサインインしてください。
            """)
    }

    /// The activation mail: how to finish, with the token, valid for the link lifetime.
    func activationMail(name: String) -> @Sendable (String) -> ActivationMail {
        let base = configuration.publicURL
        let minutes = configuration.linkLifetimeSeconds / 60
        return { token in
            ActivationMail(subject: "Tsunagu: activate your account / アカウントの有効化", body: """
                Hello \(name),

                Open this link to set your password (valid for \(minutes) minutes, once):
                \(base)/activate#token=\(token)

                Or complete it through the API: POST \(base)/v1/registrations/complete
                with {"token":"\(token)","name":"…","password":"…"}.

                If you did not expect this mail, ignore it; nothing changes without the link.
                """)
        }
    }
}
