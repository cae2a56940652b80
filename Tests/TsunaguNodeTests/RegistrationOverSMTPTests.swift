import Foundation
import NIOPosix
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguMail
import TsunaguStore

/// The whole registration chain against a real SMTP server (aiosmtpd, started here): register →
/// the node's outbox worker sends over SMTP → the mail is read from the server's mailbox → the
/// link activates the account under the organization's password policy → login; the link works
/// once, and an unknown address gets the same answer and no mail.
@Suite(.processHeavy) struct RegistrationOverSMTPTests {
    @Test(.disabled(if: ProcessInfo.processInfo.environment["TSUNAGU_SKIP_SMTP"] == "1", "TSUNAGU_SKIP_SMTP=1"))
    func registerMailActivateLogin() async throws {
        let mailbox = try await SMTPMailbox.start()
        defer { mailbox.stop() }
        try await withLiveNode({ $0.mailTransport = mailbox.transport }) { live in
            let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                                  name: "Admin", passwordHash: nil, role: .admin)
            let adminToken = try await live.store.createSession(user: admin, lifetimeSeconds: 600).token
            let policy = try await live.http.send("PATCH", "/v1/admin/organization",
                                                  json: ["password_min_length": 12, "password_min_classes": 3], token: adminToken)
            #expect(policy.status == 200)
            #expect(policy.json?["password_min_classes"]?.intValue == 3)
            // an invited account (no password yet) asks for its link; an unknown address gets the same answer
            _ = try live.store.createUser(organization: live.owner.organization, email: "kana@sakura.test", name: "Kana",
                                          passwordHash: nil, role: .member)
            let known = try await live.http.send("POST", "/v1/registrations", json: ["email": "Kana@Sakura.test"])
            let unknown = try await live.http.send("POST", "/v1/registrations", json: ["email": "ghost@sakura.test"])
            #expect(known.status == 202 && unknown.status == 202 && known.body == unknown.body)
            let text = try await mailbox.mails(count: 1)[0]
            #expect(text.contains("kana@sakura.test"))
            let token = try SMTPMailbox.token(in: text)
            let weak = try await live.http.send("POST", "/v1/registrations/complete",
                                                json: ["token": .string(token), "name": "Kana", "password": "violetharbor92"])
            #expect(weak.status == 400, "the organization asks for three character classes")
            let done = try await live.http.send("POST", "/v1/registrations/complete",
                                                json: ["token": .string(token), "name": "Ito Kana", "password": "Violet-harbor-92"])
            #expect(done.status == 200)
            let reused = try await live.http.send("POST", "/v1/registrations/complete",
                                                  json: ["token": .string(token), "name": "X", "password": "Another-pass-77"])
            #expect(reused.status == 409)
            let login = try await live.http.send("POST", "/v1/sessions",
                                                 json: ["email": "kana@sakura.test", "password": "Violet-harbor-92"])
            #expect(login.status == 201)
            // only the known address got mail (the SMTP server's mailbox holds one message)
            try await Task.sleep(for: .seconds(3))
            #expect(mailbox.count == 1)
        }
    }
}
