import Foundation
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// Login, logout and the caller's profile.
struct SessionRoutes: Sendable {
    let context: NodeContext

    private struct LoginBody: Decodable {
        var email: String
        var password: String
    }

    /// The second factor: where the user's organization requires a client certificate, the
    /// connection must have presented one that the user registered.
    private func checkSecondFactor(_ user: UserRecord, fingerprint: [UInt8]?) async throws {
        guard try await context.store.requiresClientCertificate(user.organization) else { return }
        guard let fingerprint, try await context.store.isCertificateRegistered(user: user.id, fingerprint: fingerprint)
        else { throw HubError.clientCertificateRequired }
    }

    /// `POST /v1/sessions` → 201 {token, expires_at, user}. One answer for an unknown address, a
    /// wrong password and a disabled account, so that it reveals none of them.
    func login(_ request: APIRequest) async throws -> APIResponse {
        let body = try request.decode(LoginBody.self)
        guard body.password.utf8.count <= 1024 else { throw HubError.badRequest("password: too long") }
        let store = context.store
        // The attempt is reserved (and counted) in the store before scrypt runs, so concurrent
        // guesses cannot all be evaluated while the lock is being reached (docs/security.md).
        // A lock set by this reservation commits with its audit entry (organization and target
        // named by the store from the address), or is not set.
        let lockEntry = context.auditRecord("login.locked", organization: nil, actor: nil, source: request.source)
        switch try await store.reserveLoginAttempt(email: body.email, source: request.source,
                                                   policy: context.configuration.loginThrottle, lockEntry: lockEntry) {
        case .locked(let until):
            context.metrics.throttledLogins.increment()
            // A refused login is recorded too (the account or the source is locked): the
            // organization's admins see attempts against their users while the lock holds.
            let target = try? await store.user(email: body.email)
            try await context.audit("login.refused.locked", organization: target?.organization, actor: nil,
                                    target: target?.id.rawValue, source: request.source,
                                    details: target == nil ? "unknown address \(body.email)" : nil)
            throw HubError(code: .rateLimited,
                           message: "too many failed logins; try again after \(context.time.format(millis: until))")
        case .reserved:
            break
        }
        let found: (user: UserRecord, passwordHash: String?)?
        let valid: Bool
        do {
            let record = try await store.userForLogin(email: body.email)
            found = record
            valid = try await context.passwords.verify(body.password, hash: record?.passwordHash)
        } catch {
            try? await store.loginFailed(email: body.email, source: request.source)
            throw error
        }
        guard valid, let user = found?.user, !user.disabled else {
            try await context.audited("login.failure", organization: found?.user.organization, actor: nil,
                                      target: found?.user.id.rawValue, source: request.source,
                                      details: found == nil ? "unknown address \(body.email)" : nil) {
                try await store.loginFailed(email: body.email, source: request.source)
            }
            context.logger.info("login failed", metadata: ["tsunagu.node": "\(context.nodeID)"])
            context.metrics.login("failure")
            if let organization = found?.user.organization { context.monitor.loginFailed(organization: organization) }
            throw HubError.unauthenticated("wrong e-mail address or password")
        }
        try await store.loginSucceeded(email: body.email, source: request.source)
        do {
            try await checkSecondFactor(user, fingerprint: request.certificateFingerprint)
        } catch {
            try await context.audit("login.failure", organization: user.organization, actor: nil, target: user.id.rawValue,
                                    source: request.source, details: "client certificate missing or not registered")
            throw error
        }
        context.metrics.login("success")
        // Where the organization requires a certificate, the session is bound to the one it
        // logged in with: its token is refused on any connection without that certificate.
        let bound = try await store.requiresClientCertificate(user.organization) ? request.certificateFingerprint : nil
        let (token, session) = try await context.audited("login.success", organization: user.organization, actor: user.id,
                                                         target: user.id.rawValue, source: request.source) {
            try await context.store.createSession(
                user: user, lifetimeSeconds: context.configuration.sessionLifetimeSeconds, certificateFingerprint: bound,
                source: request.source, userAgent: request.headers.first(name: "user-agent"))
        }
        // A hash made with weaker parameters than the node's is replaced now that the password
        // is at hand: raising the parameters takes effect at each account's next login.
        if let stored = found?.passwordHash, context.passwords.needsRehash(stored) {
            do {
                let upgraded = try await context.passwords.hash(body.password)
                try await store.upgradePasswordHash(user: user.id, from: stored, to: upgraded)
            } catch {
                context.logger.warning("password hash not upgraded", metadata: ["tsunagu.error": "\(error)"])
            }
        }
        let time = context.time
        return .json(.created) { w in
            w.field("token", token)
            w.field("expires_at", time.format(millis: session.expiresAtMillis))
            w.key("user")
            user.writeSummary(into: &w)
        }
    }

    /// `DELETE /v1/sessions/current`: the token stops working at once; this node's sockets opened
    /// with it are closed (4003).
    func logout(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        try await context.audited("logout", organization: session.user.organization, actor: session.user.id,
                                  target: session.id.rawValue, source: request.source) {
            try await context.store.revokeSession(session.id)
        }
        context.sessionRevoked(session.id)
        return .noContent
    }

    /// `GET /v1/me`: profile, organization, roles.
    func me(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let user = session.user
        let organization = try await context.store.organization(id: user.organization)
        let timelines = try await context.store.timelines(for: user.id)
        return .json { w in
            w.field("id", user.id.rawValue)
            w.field("name", user.name)
            w.field("email", user.email)
            w.key("org")
            w.beginObject()
            w.field("id", user.organization.rawValue)
            w.field("name", organization?.name ?? "")
            w.endObject()
            w.field("role", user.role.rawValue)
            w.field("profession", user.profession.rawValue)
            w.objects("timelines", timelines) { w, timeline in
                w.field("id", timeline.id.rawValue)
                w.field("role", timeline.role.rawValue)
            }
        }
    }
}
