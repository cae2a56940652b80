import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguCrypto
import TsunaguMail
import TsunaguStore

/// `profession` on the HTTP API and in events, and `GET /v1/timelines/{id}/members`
/// (docs/protocol.md §5).
@Suite struct ProfessionAPITests {
    private func admin(_ live: LiveNode) async throws -> String {
        let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                              name: "Admin", passwordHash: nil, role: .admin)
        return try await live.store.createSession(user: admin, lifetimeSeconds: 600).token
    }

    @Test func anAdminInvitesWithAProfessionChangesItAndListsTheOrganization() async throws {
        try await withLiveNode({ $0.mailTransport = InMemoryTransport() }) { live in
            let adminToken = try await admin(live)
            let invited = try await live.http.send("POST", "/v1/admin/users",
                                                   json: ["email": "ph@sakura.test", "name": "Kato", "profession": "pharmacist"],
                                                   token: adminToken)
            #expect(invited.status == 201)
            #expect(invited.json?["profession"]?.stringValue == "pharmacist")
            #expect(invited.json?["status"]?.stringValue == "invited")
            // The answer names no account (docs/security.md, "Admin invitations"): the list does.
            let id = try #require(try await live.store.user(email: "ph@sakura.test")?.id.rawValue)

            let plain = try await live.http.send("POST", "/v1/admin/users",
                                                 json: ["email": "fam@sakura.test", "name": "Mori"], token: adminToken)
            #expect(plain.json?["profession"]?.stringValue == "other", "the default")

            let bad = try await live.http.send("POST", "/v1/admin/users",
                                               json: ["email": "x@sakura.test", "name": "X", "profession": "surgeon"],
                                               token: adminToken)
            #expect(bad.status == 400)
            #expect(bad.json?["code"]?.stringValue == "bad_request")
            #expect(bad.json?["message"]?.stringValue?.hasPrefix("profession:") == true)
            let wrongType = try await live.http.send("POST", "/v1/admin/users",
                                                     json: ["email": "y@sakura.test", "name": "Y", "profession": 3],
                                                     token: adminToken)
            #expect(wrongType.status == 400 && wrongType.json?["message"]?.stringValue?.hasPrefix("profession") == true)

            let changed = try await live.http.send("PATCH", "/v1/admin/users/\(id)", json: ["profession": "care_manager"],
                                                   token: adminToken)
            #expect(changed.status == 200)
            #expect(changed.json?["profession"]?.stringValue == "care_manager")
            #expect(changed.json?["status"]?.stringValue == "invited", "still not activated")
            let badPatch = try await live.http.send("PATCH", "/v1/admin/users/\(id)", json: ["profession": ""],
                                                    token: adminToken)
            #expect(badPatch.status == 400 && badPatch.json?["message"]?.stringValue?.hasPrefix("profession:") == true)

            let list = try await live.http.send("GET", "/v1/admin/users", token: adminToken)
            #expect(list.status == 200)
            let users = try #require(list.json?["users"]?.arrayValue)
            #expect(users.count == 6, "the fixture's three of this organization, the admin and two invited")
            let entry = try #require(users.first { $0["id"]?.stringValue == id })
            #expect(entry["profession"]?.stringValue == "care_manager")
            #expect(entry["status"]?.stringValue == "invited")
            #expect(users.first { $0["email"]?.stringValue == "nurse@sakura.test" }?["status"]?.stringValue == "active")
            #expect(!users.contains { $0["email"]?.stringValue == "pharm@kita.test" }, "only the admin's organization")

            // members are not admins
            let denied = try await live.http.send("GET", "/v1/admin/users", token: live.nurseToken)
            #expect(denied.status == 403)
            let deniedPatch = try await live.http.send("PATCH", "/v1/admin/users/\(id)", json: ["profession": "doctor"],
                                                       token: live.nurseToken)
            #expect(deniedPatch.status == 403)
        }
    }

    @Test func professionShowsInMeInEventsAuthorsAndInHistory() async throws {
        try await withLiveNode { live in
            let adminToken = try await admin(live)
            let patched = try await live.http.send("PATCH", "/v1/admin/users/\(live.nurse.id.rawValue)",
                                                   json: ["profession": "nurse"], token: adminToken)
            #expect(patched.status == 200)
            // a session started after the change
            let login = try await live.http.send("POST", "/v1/sessions",
                                                 json: ["email": "nurse@sakura.test", "password": .string(LiveNode.password)])
            let token = try #require(login.json?["token"]?.stringValue)
            let me = try await live.http.send("GET", "/v1/me", token: token)
            #expect(me.json?["profession"]?.stringValue == "nurse")

            let watcher = try await live.session(live.ownerToken)
            _ = try await watcher.subscribe(live.timeline)
            let nurse = try await live.session(token)
            let ok = try await nurse.post(live.timeline, "BP 132/80 after lunch")
            #expect(ok["type"]?.stringValue == "ok")
            let event = try await watcher.nextEvent()
            #expect(event["author"]?["profession"]?.stringValue == "nurse")
            #expect(event["author"]?["name"]?.stringValue == "Sato Hanako")

            let history = try await live.http.send("GET", "/v1/timelines/\(live.timeline.rawValue)/events",
                                                   token: live.familyToken)
            let last = try #require(history.json?["events"]?.arrayValue?.last)
            #expect(last["author"]?["profession"]?.stringValue == "nurse")
            #expect(last["author"]?["id"]?.stringValue == live.nurse.id.rawValue)
            await watcher.close()
            await nurse.close()
        }
    }

    @Test func theMemberListIsForMembersAndCarriesReadMarkers() async throws {
        try await withLiveNode { live in
            let path = "/v1/timelines/\(live.timeline.rawValue)/members"
            let nurse = try await live.session(live.nurseToken)
            _ = try await nurse.request(["type": "read", "timeline": .string(live.timeline.rawValue), "seq": 3])
            await nurse.close()

            let reply = try await live.http.send("GET", path, token: live.familyToken)
            #expect(reply.status == 200)
            let members = try #require((try? JSONValue.parse(reply.body))?.arrayValue)
            #expect(members.count == 3)
            let byUser = Dictionary(uniqueKeysWithValues: members.map { ($0["user"]?.stringValue ?? "", $0) })
            #expect(byUser[live.owner.id.rawValue]?["role"]?.stringValue == "owner")
            #expect(byUser[live.owner.id.rawValue]?["name"]?.stringValue == "Dr. Ito")
            #expect(byUser[live.owner.id.rawValue]?["read_seq"]?.intValue == 0)
            #expect(byUser[live.nurse.id.rawValue]?["read_seq"]?.intValue == 3)
            #expect(byUser[live.family.id.rawValue]?["role"]?.stringValue == "viewer")
            #expect(byUser[live.family.id.rawValue]?["profession"]?.stringValue == "other")

            for (token, status) in [(live.outsiderToken, 403), ("not-a-token", 401)] {
                let denied = try await live.http.send("GET", path, token: token)
                #expect(denied.status == status)
            }
            let outsider = try await live.http.send("GET", path, token: live.outsiderToken)
            #expect(outsider.json?["code"]?.stringValue == "forbidden")
            #expect(!outsider.text.contains("Dr. Ito"))
            let unknown = try await live.http.send("GET", "/v1/timelines/tl_nope/members", token: live.nurseToken)
            #expect(unknown.status == 403, "a timeline that does not exist looks like one you may not see")
        }
    }

    /// The contract: an unknown `--org NAME` is an error unless `--create-org` is given.
    @Test func addUserRefusesAnUnknownOrganizationUnlessToldToCreateIt() async throws {
        let store = try await OperatorStore.make("create-org")
        defer { store.remove() }
        let typo = try await TsunaguExecutable.run(["admin", "add-user", "--email", "t@o.test", "--name", "T",
                                                    "--org", "Sakuar Clinic", "--password-stdin"] + store.common,
                                                   stdin: "long enough password")
        #expect(typo.status == 1)
        #expect(typo.output.contains("--create-org"))
        let created = try await TsunaguExecutable.run(["admin", "add-user", "--email", "t@o.test", "--name", "T",
                                                       "--org", "Kita Pharmacy", "--create-org", "--password-stdin"]
                                                      + store.common, stdin: "long enough password")
        #expect(created.status == 0)
        let alone = try await TsunaguExecutable.run(["admin", "add-user", "--email", "u@o.test", "--name", "U",
                                                     "--create-org", "--password-stdin"] + store.common,
                                                    stdin: "long enough password")
        #expect(alone.status == 2)
        let hub = try HubStore(path: store.storePath, masterKey: MasterKey.load(from: store.directory + "/master.key"))
        #expect(try hub.organization(named: "Kita Pharmacy") != nil)
        #expect(try hub.organization(named: "Sakuar Clinic") == nil, "a typo creates nothing")
    }

    @Test func theAddUserCommandTakesAProfession() async throws {
        let store = try await OperatorStore.make("profession")
        defer { store.remove() }
        let added = try await TsunaguExecutable.run(["admin", "add-user", "--email", "rx@o.test", "--name", "Kato",
                                                     "--profession", "pharmacist", "--password-stdin"] + store.common,
                                                    stdin: "long enough password")
        #expect(added.status == 0)
        let bad = try await TsunaguExecutable.run(["admin", "add-user", "--email", "x@o.test", "--name", "X",
                                                   "--profession", "surgeon", "--password-stdin"] + store.common,
                                                  stdin: "long enough password")
        #expect(bad.status == 2)
        #expect(bad.output.contains("--profession"))
        let hub = try HubStore(path: store.storePath, masterKey: MasterKey.load(from: store.directory + "/master.key"))
        #expect(try await hub.user(email: "rx@o.test")?.profession == .pharmacist)
        #expect(try await hub.user(email: "b@o.test")?.profession == .other, "the default")
        #expect(try await hub.user(email: "x@o.test") == nil)
    }
}
