import Foundation
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// Client certificates, the second factor (docs/security.md, "Second factor"): enrolling needs
/// the enrolling account's password (a stolen token alone cannot add a certificate) and is
/// audited; users and admins list and remove. Removing a certificate ends the sessions bound to
/// it.
struct CertificateRoutes: Sendable {
    let context: NodeContext

    private struct EnrolBody: Decodable {
        var password: String?
        var fingerprint: String?
    }

    /// `POST /v1/me/certificates {password}`: registers the certificate this connection
    /// presents as the caller's → 201 {fingerprint}.
    func enrolMine(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        let body = try request.decode(EnrolBody.self)
        guard let fingerprint = request.certificateFingerprint else {
            throw HubError.badRequest("present the client certificate to register (TLS with --tls-client-ca)")
        }
        try await confirm(body.password, of: session.user, request: request, target: session.user)
        return try await enrol(fingerprint, for: session.user, by: session.user, request: request)
    }

    /// `POST /v1/admin/users/{id}/certificates {fingerprint, password}` (hex SHA-256 of the DER;
    /// the admin's own password): an admin registers a user's certificate, e.g. before the
    /// organization starts requiring one.
    func enrolForUser(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        let user = try await userInOrganization(request, of: session)
        let body = try request.decode(EnrolBody.self)
        guard let hex = body.fingerprint else { throw HubError.badRequest("fingerprint: required") }
        let fingerprint = try Self.fingerprint(hex)
        try await confirm(body.password, of: session.user, request: request, target: user)
        return try await enrol(fingerprint, for: user, by: session.user, request: request)
    }

    /// `GET /v1/me/certificates` → 200 {certificates: [{fingerprint, created_at}]}.
    func listMine(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        return try await list(session.user.id)
    }

    /// `GET /v1/admin/users/{id}/certificates`.
    func listForUser(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        return try await list(try await userInOrganization(request, of: session).id)
    }

    /// `DELETE /v1/me/certificates/{fingerprint}` → 204; 404 when not registered.
    func removeMine(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticate(request)
        return try await remove(request, from: session.user, by: session.user)
    }

    /// `DELETE /v1/admin/users/{id}/certificates/{fingerprint}`.
    func removeForUser(_ request: APIRequest) async throws -> APIResponse {
        let session = try await context.authenticateAdmin(request)
        return try await remove(request, from: try await userInOrganization(request, of: session), by: session.user)
    }

    // MARK: -

    private func enrol(_ fingerprint: [UInt8], for user: UserRecord, by actor: UserRecord, request: APIRequest)
        async throws -> APIResponse
    {
        let hex = ByteEncoding.hex(fingerprint)
        try await context.audited("certificate.add", organization: user.organization, actor: actor.id,
                                  target: user.id.rawValue, source: request.source, details: hex) {
            try await context.store.registerCertificate(user: user.id, fingerprint: fingerprint)
        }
        return .json(.created) { $0.field("fingerprint", hex) }
    }

    private func list(_ user: UserID) async throws -> APIResponse {
        let certificates = try await context.store.certificates(user: user)
        let time = context.time
        return .json { w in
            w.objects("certificates", certificates) { w, certificate in
                w.field("fingerprint", ByteEncoding.hex(certificate.fingerprint))
                w.field("created_at", time.format(millis: certificate.createdAtMillis))
            }
        }
    }

    private func remove(_ request: APIRequest, from user: UserRecord, by actor: UserRecord) async throws -> APIResponse {
        let fingerprint = try Self.fingerprint(request.parameters["fingerprint"] ?? "")
        guard let ended = try await context.audited("certificate.remove", organization: user.organization, actor: actor.id,
                                                    target: user.id.rawValue, source: request.source,
                                                    details: ByteEncoding.hex(fingerprint), {
            try await context.store.removeCertificate(user: user.id, fingerprint: fingerprint)
        }) else {
            throw HubError.notFound("no such certificate")
        }
        for session in ended { context.sessionRevoked(session) }
        return .noContent
    }

    /// Re-authentication with the account password, counted by the login throttle like a
    /// login: a stolen token cannot be used to guess it faster.
    private func confirm(_ password: String?, of account: UserRecord, request: APIRequest, target: UserRecord) async throws {
        guard let password, !password.isEmpty else {
            throw HubError.badRequest("password: required (the account password)")
        }
        guard password.utf8.count <= 1024 else { throw HubError.badRequest("password: too long") }
        let store = context.store
        switch try await store.reserveLoginAttempt(email: account.email, source: request.source,
                                                   policy: context.configuration.loginThrottle) {
        case .locked(let until):
            throw HubError(code: .rateLimited,
                           message: "too many failed password checks; try again after \(context.time.format(millis: until))")
        case .reserved:
            break
        }
        let valid: Bool
        do {
            let hash = try await store.userForLogin(email: account.email)?.passwordHash
            valid = try await context.passwords.verify(password, hash: hash)
        } catch {
            try? await store.loginFailed(email: account.email, source: request.source)
            throw error
        }
        guard valid else {
            try await context.audited("certificate.add.refused", organization: target.organization, actor: account.id,
                                      target: target.id.rawValue, source: request.source, details: "wrong password") {
                try await store.loginFailed(email: account.email, source: request.source)
            }
            throw HubError.forbidden("the account password is wrong")
        }
        try await store.loginSucceeded(email: account.email, source: request.source)
    }

    private func userInOrganization(_ request: APIRequest, of session: SessionRecord) async throws -> UserRecord {
        guard let id = request.parameters["id"].flatMap(UserID.init),
            let user = try await context.store.user(id: id), user.organization == session.user.organization
        else { throw HubError.notFound("no such user in your organization") }
        return user
    }

    private static func fingerprint(_ text: String) throws -> [UInt8] {
        let hex = text.lowercased().replacingOccurrences(of: ":", with: "")
        guard let fingerprint = ByteEncoding.bytes(hex: hex), fingerprint.count == 32 else {
            throw HubError.badRequest("fingerprint: 64 hex digits (SHA-256 of the certificate's DER)")
        }
        return fingerprint
    }
}
