import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// Logins, logouts and membership changes are in the audit log, which only organization admins read.
@Suite struct AuditTests {
    @Test func loginsAndMembershipChangesAreAuditedForAdminsOnly() async throws {
        try await withLiveNode { live in
            let http = live.http
            _ = try await http.send("POST", "/v1/sessions", json: ["email": "nurse@sakura.test", "password": "wrong password!"])
            let ok = try await http.send("POST", "/v1/sessions", json: ["email": "nurse@sakura.test", "password": .string(LiveNode.password)])
            #expect(ok.status == 201)
            let removed = try await http.send("DELETE", "/v1/timelines/\(live.timeline.rawValue)/members/\(live.family.id.rawValue)",
                                              token: live.ownerToken)
            #expect(removed.status == 204)
            // a member is not an organization admin
            let refused = try await http.send("GET", "/v1/admin/audit", token: live.nurseToken)
            #expect(refused.status == 403)
            let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                                  name: "Admin", passwordHash: nil, role: .admin)
            let adminToken = try await live.store.createSession(user: admin, lifetimeSeconds: 600).token
            let log = try await http.send("GET", "/v1/admin/audit", token: adminToken)
            #expect(log.status == 200)
            let entries = log.json?["entries"]?.arrayValue ?? []
            let actions = entries.compactMap { $0["action"]?.stringValue }
            #expect(actions.contains("login.failure"))
            #expect(actions.contains("login.success"))
            #expect(actions.contains("member.remove"))
            #expect(entries.allSatisfy { $0["at"]?.stringValue?.hasSuffix("+09:00") == true })
            #expect(entries.allSatisfy { $0["source"]?.stringValue == "127.0.0.1" })
            // the pharmacy's admin sees none of the clinic's entries
            let otherAdmin = try live.store.createUser(organization: live.outsider.organization, email: "boss@kita.test",
                                                       name: "Boss", passwordHash: nil, role: .admin)
            let otherToken = try await live.store.createSession(user: otherAdmin, lifetimeSeconds: 600).token
            let other = try await http.send("GET", "/v1/admin/audit", token: otherToken)
            #expect(other.json?["entries"]?.arrayValue?.isEmpty == true)
            let badRange = try await http.send("GET", "/v1/admin/audit?from=yesterday", token: adminToken)
            #expect(badRange.status == 400)
        }
    }

    @Test func theVerifyCommandDetectsAnEntryAlteredInTheDatabase() async throws {
        let store = try await OperatorStore.make("audit")
        defer { store.remove() }
        let common = store.common
        let intact = try await TsunaguExecutable.run(["audit", "verify"] + common)
        #expect(intact.status == 0)
        #expect(intact.output.contains("2 entries verified"))
        let sqlite = try await Tool.run("/usr/bin/env", ["python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE audit_log SET action='admin.nothing' WHERE seq=1\"); c.commit()",
            store.storePath])
        #expect(sqlite.status == 0, "\(sqlite.output)")
        let tampered = try await TsunaguExecutable.run(["audit", "verify"] + common)
        #expect(tampered.status == 1)
        #expect(tampered.output.contains("TAMPERED"))
        #expect(tampered.output.contains("entry 1"))
    }
}
