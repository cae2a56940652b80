import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguMail
import TsunaguStore

/// `POST /v1/admin/users` answers alike whether or not the address has an account, so that an
/// organization admin cannot probe which addresses exist elsewhere (docs/security.md, "Admin
/// invitations"); the owner of the address learns it by mail, and no account is touched.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct AdminInviteTests {
    private func mail(_ transport: InMemoryTransport, count: Int) async throws -> [MailMessage] {
        let deadline = ContinuousClock.now + .seconds(10)
        while transport.delivered.count < count {
            guard ContinuousClock.now < deadline else { throw TestFailure("no mail arrived") }
            try await Task.sleep(for: .milliseconds(50))
        }
        return transport.delivered
    }

    @Test func anExistingAndAnUnknownAddressGetTheSameAnswerAndNoAccountIsTouched() async throws {
        let transport = InMemoryTransport()
        try await withLiveNode({ $0.mailTransport = transport }) { live in
            let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                                  name: "Admin", passwordHash: nil, role: .admin)
            let token = try await live.store.createSession(user: admin, lifetimeSeconds: 600).token
            let before = try #require(try await live.store.userForLogin(email: "pharm@kita.test"))
            let sameBefore = try #require(try await live.store.userForLogin(email: "nurse@sakura.test"))

            func invite(_ email: String) async throws -> (HTTPReply, Duration) {
                let started = ContinuousClock.now
                let reply = try await live.http.send("POST", "/v1/admin/users",
                                                     json: ["email": .string(email), "name": "Kato", "profession": "pharmacist"],
                                                     token: token)
                return (reply, ContinuousClock.now - started)
            }
            // An address of another organization, one of the admin's own, and a new one.
            let (elsewhere, elsewhereTime) = try await invite("pharm@kita.test")
            let (own, _) = try await invite("Nurse@Sakura.test")
            let (fresh, freshTime) = try await invite("new@example.test")
            for reply in [elsewhere, own, fresh] {
                #expect(reply.status == 201)
                #expect(reply.json?["status"]?.stringValue == "invited")
                #expect(reply.json.map { Set($0.keys) } == ["id", "email", "name", "role", "profession", "status"])
                #expect(reply.json?["id"]?.stringValue?.hasPrefix("u_") == true)
                #expect(reply.json?["name"]?.stringValue == "Kato" && reply.json?["profession"]?.stringValue == "pharmacist")
            }
            // The new address's id is its new user's; an existing address's names nobody.
            let freshID = try #require(fresh.json?["id"]?.stringValue)
            #expect(try await live.store.user(id: UserID(unchecked: freshID))?.email == "new@example.test")
            for reply in [elsewhere, own] {
                let id = try #require(reply.json?["id"]?.stringValue)
                #expect(try await live.store.user(id: UserID(unchecked: id)) == nil)
            }
            #expect(elsewhere.json?["email"]?.stringValue == "pharm@kita.test")
            #expect(own.json?["email"]?.stringValue == "nurse@sakura.test")
            // Both answered no sooner than the floor, which is above either path's own time.
            #expect(elsewhereTime >= .milliseconds(40) && freshTime >= .milliseconds(40))

            // No account is touched: the same organization, name, profession, password and status.
            let after = try #require(try await live.store.userForLogin(email: "pharm@kita.test"))
            #expect(after.user == before.user && after.passwordHash == before.passwordHash)
            let sameAfter = try #require(try await live.store.userForLogin(email: "nurse@sakura.test"))
            #expect(sameAfter.user == sameBefore.user && sameAfter.passwordHash == sameBefore.passwordHash)
            let login = try await live.http.send("POST", "/v1/sessions",
                                                 json: ["email": "pharm@kita.test", "password": .string(LiveNode.password)])
            #expect(login.status == 201)
            // The new address is an invited user of the admin's organization.
            let created = try #require(try await live.store.user(email: "new@example.test"))
            #expect(created.organization == live.owner.organization && created.profession == .pharmacist)
            #expect(try await live.store.isActivated(created.id) == false)

            // Each address got its mail: a link for the new one, a notice without link for the others.
            let messages = try await mail(transport, count: 3)
            let link = try #require(messages.first { $0.to == "new@example.test" })
            #expect(link.textBody.contains("#token="))
            for address in ["pharm@kita.test", "nurse@sakura.test"] {
                let notice = try #require(messages.first { $0.to == address })
                #expect(notice.subject.contains("already have an account"))
                #expect(!notice.textBody.contains("#token="))
            }
        }
    }

    /// Timing (`AnswerTiming`): an address that has an account against new addresses.
    @Test func anExistingAndANewAddressTakeTheSameTime() async throws {
        try await withLiveNode({ $0.mailTransport = InMemoryTransport() }) { live in
            let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                                  name: "Admin", passwordHash: nil, role: .admin)
            let token = try await live.store.createSession(user: admin, lifetimeSeconds: 600).token
            let floor = live.node.configuration.adminInviteAnswerFloor
            try await AnswerTiming.expectAlike(known: "pharm@kita.test", unknown: { "new\($0)-\($1)\($2)@example.test" },
                                               floor: floor, label: "admin invite") { email in
                let reply = try await live.http.send("POST", "/v1/admin/users",
                                                     json: ["email": .string(email), "name": "Kato"], token: token)
                #expect(reply.status == 201)
            }
        }
    }

    /// A refusal must not depend on the address either: a bad name is refused for a known and an
    /// unknown address alike, and nothing is mailed.
    @Test func badInputIsRefusedAlikeForKnownAndUnknownAddresses() async throws {
        let transport = InMemoryTransport()
        try await withLiveNode({ $0.mailTransport = transport }) { live in
            let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                                  name: "Admin", passwordHash: nil, role: .admin)
            let token = try await live.store.createSession(user: admin, lifetimeSeconds: 600).token
            for email in ["pharm@kita.test", "unknown@example.test"] {
                let reply = try await live.http.send("POST", "/v1/admin/users", json: ["email": .string(email), "name": "  "],
                                                     token: token)
                #expect(reply.status == 400 && reply.json?["message"]?.stringValue?.hasPrefix("name") == true)
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(transport.delivered.isEmpty)
        }
    }
}
