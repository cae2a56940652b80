import Foundation
import Testing
import TsunaguCore
import TsunaguCrypto
import TsunaguNode
import TsunaguStore

/// Issue item "second factor that cannot be bypassed" (docs/security.md, "Second factor"): a
/// session that logged in where certificates are required is bound to its certificate; enrolling
/// needs the account password; switching the requirement on ends unbound sessions. Real TLS
/// with curl and Python's websockets, certificates from `cluster/make-test-certs.sh` (alice is
/// the nurse's, bob another valid one from the same CA).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct CertificateBindingTests {
    /// Runs `body` against a TLS node that requests client certificates, with curl.
    private func withTLSNode(_ body: (LiveNode, TLSClient) async throws -> Void) async throws {
        let certs = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-certs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: certs) }
        let made = try await Tool.run("/bin/bash", [MutualTLSTests.script, certs])
        try #require(made.status == 0, "\(made.output)")
        try await withLiveNode({
            $0.tls = try! NodeTLS.load(certificate: certs + "/server.pem", key: certs + "/server.key",
                                       clientCA: certs + "/ca.pem")
        }) { live in
            try await body(live, TLSClient(port: live.port, certs: certs))
        }
    }

    /// The reproduced attack: with the nurse's (alice's) token and bob's certificate, nothing
    /// lets bob's certificate stand in for alice's, at any step.
    @Test func aStolenTokenWithAnotherCertificateFailsAtEveryStep() async throws {
        try await withTLSNode { live, tls in
            let stolen = live.nurseToken
            // 1. enrolling bob's certificate with the stolen token: no password, a wrong one
            let noPassword = try await tls.send("POST", "/v1/me/certificates", token: stolen, body: "{}", cert: "bob")
            #expect(noPassword.status == 400)
            let wrong = try await tls.send("POST", "/v1/me/certificates", token: stolen,
                                           body: #"{"password":"a guess of the thief"}"#, cert: "bob")
            #expect(wrong.status == 403)
            let none = try await tls.send("GET", "/v1/me/certificates", token: stolen, cert: "bob")
            #expect(none.status == 200)
            #expect(none.body.contains(#""certificates":[]"#))
            // the nurse enrols her own certificate, with her password
            let enrolled = try await tls.send("POST", "/v1/me/certificates", token: live.nurseToken,
                                              body: #"{"password":"\#(LiveNode.password)"}"#, cert: "alice")
            #expect(enrolled.status == 201)
            let alice = try #require(MutualTLSTests.field("fingerprint", of: enrolled.raw))
            // 2. an admin (with their own password) manages certificates, then requires them
            let (admin, adminToken) = try await Self.admin(live)
            let listed = try await tls.send("GET", "/v1/admin/users/\(live.nurse.id.rawValue)/certificates", token: adminToken)
            #expect(listed.body.contains(alice))
            let adminNoPassword = try await tls.send("POST", "/v1/admin/users/\(live.family.id.rawValue)/certificates",
                                                     token: adminToken, body: #"{"fingerprint":"\#(alice)"}"#)
            #expect(adminNoPassword.status == 400)
            let required = try await tls.send("PATCH", "/v1/admin/organization", token: adminToken,
                                              body: #"{"require_client_certificate":true}"#)
            #expect(required.status == 200)
            // the stolen token was not bound to a certificate: it ended with the switch
            let ended = try await tls.send("GET", "/v1/me", token: stolen, cert: "bob")
            #expect(ended.status == 401)
            #expect(ended.body.contains(#""unauthenticated""#))
            #expect(try await tls.send("GET", "/v1/me", token: adminToken).status == 401)
            // 3. the nurse logs in with her certificate: that token is bound to it
            let login = try await tls.send("POST", "/v1/sessions", body: Self.login("nurse@sakura.test"), cert: "alice")
            #expect(login.status == 201)
            let bound = try #require(MutualTLSTests.field("token", of: login.raw))
            #expect(try await tls.send("GET", "/v1/me", token: bound, cert: "alice").status == 200)
            // ... and worth nothing with bob's certificate, even with the right password
            let other = try await tls.send("GET", "/v1/me", token: bound, cert: "bob")
            #expect(other.status == 401)
            #expect(other.body.contains(#""certificate_required""#))
            let enrolBob = try await tls.send("POST", "/v1/me/certificates", token: bound,
                                              body: #"{"password":"\#(LiveNode.password)"}"#, cert: "bob")
            #expect(enrolBob.status == 401)
            #expect(enrolBob.body.contains(#""certificate_required""#))
            let socket = try await MutualTLSTests.webSocketAuth(port: live.port, token: bound, certs: tls.certs, cert: "bob")
            #expect(socket.contains(#""certificate_required""#), "\(socket)")
            // 4. logging in as the nurse with bob's certificate
            let asNurse = try await tls.send("POST", "/v1/sessions", body: Self.login("nurse@sakura.test"), cert: "bob")
            #expect(asNurse.status == 401)
            #expect(asNurse.body.contains(#""client_certificate_required""#))
            #expect(try await tls.send("GET", "/v1/me/certificates", token: bound, cert: "alice").body
                .components(separatedBy: "fingerprint").count == 2)
            // removing her certificate ends the sessions bound to it
            let removed = try await tls.send("DELETE", "/v1/me/certificates/\(alice)", token: bound, cert: "alice")
            #expect(removed.status == 204)
            #expect(try await tls.send("GET", "/v1/me", token: bound, cert: "alice").status == 401)
            let entries = try await live.store.auditEntries(organization: live.nurse.organization, fromMillis: 0,
                                                            toMillis: .max, limit: 200)
            let actions = entries.map(\.record.action)
            #expect(actions.filter { $0 == "certificate.add" }.count == 1)
            #expect(actions.contains("certificate.add.refused"))
            #expect(actions.contains("certificate.remove"))
            _ = admin
        }
    }

    /// A token replayed without the certificate it logged in with is refused over HTTP and over
    /// WebSocket; with it, both work.
    @Test func aTokenReplayedWithoutItsCertificateIsRefusedOverHTTPAndWebSocket() async throws {
        try await withTLSNode { live, tls in
            let (_, adminToken) = try await Self.admin(live)
            let hex = try await Self.fingerprint(of: "alice", certs: tls.certs)
            let enrolled = try await tls.send("POST", "/v1/admin/users/\(live.nurse.id.rawValue)/certificates",
                                              token: adminToken,
                                              body: #"{"fingerprint":"\#(hex)","password":"\#(LiveNode.password)"}"#)
            #expect(enrolled.status == 201, "\(enrolled.body)")
            #expect(try await tls.send("PATCH", "/v1/admin/organization", token: adminToken,
                                       body: #"{"require_client_certificate":true}"#).status == 200)
            let login = try await tls.send("POST", "/v1/sessions", body: Self.login("nurse@sakura.test"), cert: "alice")
            #expect(login.status == 201)
            let token = try #require(MutualTLSTests.field("token", of: login.raw))
            let replayed = try await tls.send("GET", "/v1/timelines", token: token)
            #expect(replayed.status == 401)
            #expect(replayed.body.contains(#""certificate_required""#))
            #expect(try await tls.send("GET", "/v1/timelines", token: token, cert: "alice").status == 200)
            let socket = try await MutualTLSTests.webSocketAuth(port: live.port, token: token, certs: tls.certs, cert: nil)
            #expect(socket.contains(#""certificate_required""#), "\(socket)")
            let withCertificate = try await MutualTLSTests.webSocketAuth(port: live.port, token: token, certs: tls.certs,
                                                                         cert: "alice")
            #expect(withCertificate.contains(#""ok""#), "\(withCertificate)")
            // the pharmacy (no requirement) is unaffected: its tokens need no certificate
            #expect(try await tls.send("GET", "/v1/me", token: live.outsiderToken).status == 200)
        }
    }

    /// Switching the requirement on ends every unbound session of the organization at once, its
    /// sockets included (4003); other organizations' sessions stay.
    @Test func switchingTheRequirementOnEndsUnboundSessionsAndTheirSockets() async throws {
        try await withLiveNode { live in
            let (_, adminToken) = try await Self.admin(live)
            let nurse = try await live.session(live.nurseToken)
            let pharmacist = try await live.session(live.outsiderToken)
            let switched = try await live.http.send("PATCH", "/v1/admin/organization", json: ["require_client_certificate": true],
                                                    token: adminToken)
            #expect(switched.status == 200)
            #expect(try await nurse.waitForClose(timeout: .seconds(5)) == TsunaguCloseCode.sessionEnded)
            #expect(try await live.http.send("GET", "/v1/me", token: live.nurseToken).status == 401)
            #expect(try await live.http.send("GET", "/v1/me", token: live.outsiderToken).status == 200)
            #expect(try await pharmacist.expectSilence() == nil)
        }
    }

    private static func login(_ email: String) -> String {
        #"{"email":"\#(email)","password":"\#(LiveNode.password)"}"#
    }

    /// An admin of the clinic with the fixture's password, and a session.
    private static func admin(_ live: LiveNode) async throws -> (UserRecord, String) {
        let admin = try live.store.createUser(
            organization: live.nurse.organization, email: "admin@sakura.test", name: "Admin",
            passwordHash: PasswordHasher(parameters: .fastForTests).hash(LiveNode.password), role: .admin)
        return (admin, try await live.store.createSession(user: admin, lifetimeSeconds: 600).token)
    }

    private static func fingerprint(of name: String, certs: String) async throws -> String {
        let result = try await Tool.run("/usr/bin/env", ["openssl", "x509", "-in", "\(certs)/\(name).pem", "-noout",
                                                         "-fingerprint", "-sha256"])
        let value = result.output.split(separator: "=").last.map(String.init) ?? ""
        return value.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: ":", with: "").lowercased()
    }
}

/// curl over TLS to a node, optionally presenting one of the test certificates.
struct TLSClient {
    let port: Int
    let certs: String

    struct Reply {
        var status: Int
        /// The body and curl's status line.
        var raw: String
        var body: String { raw.split(separator: "\n").dropLast().joined(separator: "\n") }
    }

    func send(_ method: String, _ path: String, token: String? = nil, body: String? = nil, cert: String? = nil)
        async throws -> Reply
    {
        var args = ["-sk", "--max-time", "5", "-w", "\n%{http_code}", "-X", method]
        if let cert { args += ["--cert", "\(certs)/\(cert).pem", "--key", "\(certs)/\(cert).key"] }
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        if let body { args += ["-d", body] }
        let result = try await Tool.run("/usr/bin/curl", args + ["https://127.0.0.1:\(port)\(path)"])
        return Reply(status: Int(result.output.split(separator: "\n").last ?? "") ?? 0, raw: result.output)
    }
}
