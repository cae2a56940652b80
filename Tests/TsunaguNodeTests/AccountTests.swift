import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguMail
import TsunaguStore

/// Invitation and registration by e-mailed single-use links, and an admin disabling a user.
@Suite struct AccountTests {
    private func admin(_ live: LiveNode) async throws -> String {
        let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                              name: "Admin", passwordHash: nil, role: .admin)
        return try await live.store.createSession(user: admin, lifetimeSeconds: 600).token
    }

    /// Waits for the outbox worker to hand `count` messages to the transport.
    private func mail(_ transport: InMemoryTransport, count: Int) async throws -> [MailMessage] {
        let deadline = ContinuousClock.now + .seconds(10)
        while transport.delivered.count < count {
            guard ContinuousClock.now < deadline else { throw TestFailure("no mail arrived") }
            try await Task.sleep(for: .milliseconds(50))
        }
        return transport.delivered
    }

    private func token(in message: MailMessage) throws -> String {
        guard let range = message.textBody.range(of: "#token=") else { throw TestFailure("no link in the mail") }
        return String(message.textBody[range.upperBound...].prefix { !$0.isWhitespace })
    }

    @Test func anInvitedUserActivatesByTheMailedLinkOnceAndLogsIn() async throws {
        let transport = InMemoryTransport()
        try await withLiveNode({ $0.mailTransport = transport }) { live in
            let adminToken = try await admin(live)
            let invited = try await live.http.send("POST", "/v1/admin/users",
                                                   json: ["email": "new@sakura.test", "name": "New Nurse", "role": "member"],
                                                   token: adminToken)
            #expect(invited.status == 201)
            #expect(invited.json?["status"]?.stringValue == "invited")
            let message = try #require(try await mail(transport, count: 1).first)
            #expect(message.to == "new@sakura.test")
            let token = try token(in: message)
            // not active before the link is used
            let early = try await live.http.send("POST", "/v1/sessions", json: ["email": "new@sakura.test", "password": "x"])
            #expect(early.status == 401)
            let weak = try await live.http.send("POST", "/v1/registrations/complete",
                                                json: ["token": .string(token), "name": "New Nurse", "password": "password"])
            #expect(weak.status == 400)
            let done = try await live.http.send("POST", "/v1/registrations/complete",
                                                json: ["token": .string(token), "name": "Yamada Aiko", "password": "violet-harbor-92"])
            #expect(done.status == 200)
            #expect(done.json?["user"]?["name"]?.stringValue == "Yamada Aiko")
            // One entry, for the completion that happened, named by the transaction that found the user.
            let completions = try await live.store.auditEntries(
                AuditFilter(organization: live.owner.organization, fromMillis: 0, toMillis: .max, action: "registration.complete"),
                afterSeq: 0, limit: 10)
            #expect(completions.count == 1)
            let activated = try #require(try await live.store.user(email: "new@sakura.test"))
            #expect(completions.first?.record.actor == activated.id)
            #expect(completions.first?.record.target == activated.id.rawValue)
            let again = try await live.http.send("POST", "/v1/registrations/complete",
                                                 json: ["token": .string(token), "name": "X", "password": "another-passphrase-7"])
            #expect(again.status == 409)
            let login = try await live.http.send("POST", "/v1/sessions",
                                                 json: ["email": "new@sakura.test", "password": "violet-harbor-92"])
            #expect(login.status == 201)
        }
    }

    @Test func registrationAnswersTheSameForKnownAndUnknownAddresses() async throws {
        let transport = InMemoryTransport()
        try await withLiveNode({ $0.mailTransport = transport; $0.linkLifetimeSeconds = 1 }) { live in
            let unknown = try await live.http.send("POST", "/v1/registrations", json: ["email": "nobody@nowhere.test"])
            let known = try await live.http.send("POST", "/v1/registrations", json: ["email": "nurse@sakura.test"])
            #expect(unknown.status == 202 && known.status == 202)
            #expect(unknown.body == known.body)
            let messages = try await mail(transport, count: 1)
            try await Task.sleep(for: .milliseconds(300))
            #expect(transport.delivered.count == 1, "only the known address gets mail")
            #expect(messages[0].to == "nurse@sakura.test")
            // links expire (1 s here)
            try await Task.sleep(for: .milliseconds(1200))
            let expired = try await live.http.send("POST", "/v1/registrations/complete",
                                                   json: ["token": .string(try token(in: messages[0])), "name": "N",
                                                          "password": "violet-harbor-92"])
            #expect(expired.status == 400)
            #expect(expired.json?["message"]?.stringValue?.contains("expired") == true)
            let bogus = try await live.http.send("POST", "/v1/registrations/complete",
                                                 json: ["token": "made-up", "name": "N", "password": "violet-harbor-92"])
            #expect(bogus.status == 404)
        }
    }

    @Test func disablingAUserClosesTheirSocketAtOnceAndOnlyAdminsMayDoIt() async throws {
        try await withLiveNode { live in
            let adminToken = try await admin(live)
            let nurse = try await live.session(live.nurseToken)
            _ = try await nurse.subscribe(live.timeline)
            let notAdmin = try await live.http.send("PATCH", "/v1/admin/users/\(live.nurse.id.rawValue)",
                                                    json: ["disabled": true], token: live.ownerToken)
            #expect(notAdmin.status == 403)
            let otherOrg = try await live.http.send("PATCH", "/v1/admin/users/\(live.outsider.id.rawValue)",
                                                    json: ["disabled": true], token: adminToken)
            #expect(otherOrg.status == 404)
            let disabled = try await live.http.send("PATCH", "/v1/admin/users/\(live.nurse.id.rawValue)",
                                                    json: ["disabled": true], token: adminToken)
            #expect(disabled.status == 200)
            #expect(disabled.json?["status"]?.stringValue == "disabled")
            // the close is sent before the answer, so it is already on its way; 5 s leaves room for
            // a loaded machine's scheduling, not for a close that waits on anything
            #expect(try await nurse.waitForClose(timeout: .seconds(5)) == TsunaguCloseCode.sessionEnded)
            let login = try await live.http.send("POST", "/v1/sessions",
                                                 json: ["email": "nurse@sakura.test", "password": .string(LiveNode.password)])
            #expect(login.status == 401)
        }
    }
}
