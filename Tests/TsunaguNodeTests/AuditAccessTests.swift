import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// Who read which patient, filtered and exported by the organization's admins; audit entries
/// commit with their action or the action fails (docs/security.md, "Audit log").
@Suite struct AuditAccessTests {
    private func admin(_ live: LiveNode, _ organization: OrganizationID, _ email: String) async throws -> (UserRecord, String) {
        let user = try live.store.createUser(organization: organization, email: email, name: "Admin", passwordHash: nil,
                                             role: .admin)
        return (user, try await live.store.createSession(user: user, lifetimeSeconds: 600).token)
    }

    private func lines(_ reply: HTTPReply) -> [String] {
        // "\r\n" is one Character in Swift: CSV lines end with it, JSON Lines with "\n".
        String(decoding: reply.body, as: UTF8.self).split { $0 == "\n" || $0 == "\r\n" }.map(String.init)
    }

    @Test func readsAreRecordedOncePerSessionAndTimelineAndAdminsExportOnlyTheirOwn() async throws {
        try await withLiveNode { live in
            let http = live.http
            let timeline = live.timeline.rawValue
            // Reads: two history pages and two subscriptions by the same session are one entry each.
            for _ in 0..<2 {
                #expect(try await http.send("GET", "/v1/timelines/\(timeline)/events", token: live.nurseToken).status == 200)
            }
            // Another session of the nurse (one entry per session and timeline: the HTTP reads'
            // session has its entry already) subscribes on two connections.
            let subscriber = try await live.store.createSession(user: live.nurse, lifetimeSeconds: 600).token
            let first = try await live.session(subscriber)
            let second = try await live.session(subscriber)
            #expect(try await first.subscribe(live.timeline)["type"]?.stringValue == "ok")
            #expect(try await second.subscribe(live.timeline)["type"]?.stringValue == "ok")
            // Failed logins: against a clinic user, and against the pharmacy's own user.
            _ = try await http.send("POST", "/v1/sessions", json: ["email": "nurse@sakura.test", "password": "wrong password!"])
            _ = try await http.send("POST", "/v1/sessions", json: ["email": "pharm@kita.test", "password": "wrong password!"])

            let (_, clinicToken) = try await admin(live, live.owner.organization, "admin@sakura.test")
            let (_, pharmacyToken) = try await admin(live, live.outsider.organization, "admin@kita.test")

            var entries: [JSONValue] = []
            for _ in 0..<50 {
                entries = try await http.send("GET", "/v1/admin/audit?timeline=\(timeline)", token: clinicToken)
                    .json?["entries"]?.arrayValue ?? []
                if entries.contains(where: { $0["action"]?.stringValue == "timeline.subscribe" }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let reads = entries.filter { $0["action"]?.stringValue == "timeline.read" }
            let subscriptions = entries.filter { $0["action"]?.stringValue == "timeline.subscribe" }
            #expect(reads.count == 1, "\(entries)")
            #expect(subscriptions.count == 1, "\(entries)")
            #expect(reads.first?["actor"]?.stringValue == live.nurse.id.rawValue)
            #expect(reads.first?["source"]?.stringValue == "127.0.0.1")
            #expect(entries.allSatisfy { $0["at"]?.stringValue?.hasSuffix("+09:00") == true })

            // JSON Lines, filtered by action: the failed login against the clinic's nurse only.
            let jsonl = try await http.send("GET", "/v1/admin/audit/export?format=jsonl&action=login.failure", token: clinicToken)
            #expect(jsonl.status == 200)
            #expect(jsonl.headers.contains { $0.0.lowercased() == "transfer-encoding" && $0.1 == "chunked" })
            let failures = lines(jsonl).compactMap { (try? JSONValue.parse($0))?.objectValue }
            #expect(failures.count == 1, "\(failures)")
            #expect(failures.first?["target"]?.stringValue == live.nurse.id.rawValue)

            // CSV, filtered by user: the nurse's read, her failed login; a header; JST times.
            let csv = try await http.send("GET", "/v1/admin/audit/export?format=csv&user=\(live.nurse.id.rawValue)",
                                          token: clinicToken)
            #expect(csv.status == 200)
            let rows = lines(csv)
            #expect(rows.first == "seq,at,action,actor,target,source,node,details")
            #expect(String(decoding: csv.body, as: UTF8.self).hasSuffix("\r\n"))
            #expect(rows.contains { $0.contains(",timeline.read,") } && rows.contains { $0.contains(",login.failure,") })
            #expect(rows.dropFirst().allSatisfy { $0.contains("+09:00") })

            // The pharmacy's admin: its own failed login, none of the clinic's entries.
            let pharmacy = try await http.send("GET", "/v1/admin/audit/export?format=jsonl", token: pharmacyToken)
            let pharmacyText = String(decoding: pharmacy.body, as: UTF8.self)
            #expect(pharmacyText.contains(live.outsider.id.rawValue))
            #expect(!pharmacyText.contains(timeline) && !pharmacyText.contains(live.nurse.id.rawValue))
            let clinicText = String(decoding: try await http.send("GET", "/v1/admin/audit/export?format=jsonl",
                                                                  token: clinicToken).body, as: UTF8.self)
            #expect(!clinicText.contains(live.outsider.id.rawValue))

            // The exports themselves are in the log; bad filters are refused.
            let exports = try await http.send("GET", "/v1/admin/audit?action=audit.export", token: clinicToken)
            #expect((exports.json?["entries"]?.arrayValue ?? []).count == 3)
            #expect(try await http.send("GET", "/v1/admin/audit/export?format=xml", token: clinicToken).status == 400)
            #expect(try await http.send("GET", "/v1/admin/audit/export?format=csv&user=nobody", token: clinicToken).status == 400)
            #expect(try await http.send("GET", "/v1/admin/audit/export?format=csv", token: live.nurseToken).status == 403)
            await first.close()
            await second.close()
        }
    }

    @Test func aReadByAnotherOrganizationsUserIsInBothOrganizationsLogs() async throws {
        try await withLiveNode { live in
            // A care team spans organizations: the pharmacist follows the clinic's patient.
            _ = try await live.store.addMember(timeline: live.timeline, email: live.outsider.email, role: .viewer, by: live.owner)
            #expect(try await live.http.send("GET", "/v1/timelines/\(live.timeline.rawValue)/events",
                                             token: live.outsiderToken).status == 200)
            let (_, clinicToken) = try await admin(live, live.owner.organization, "admin@sakura.test")
            let (_, pharmacyToken) = try await admin(live, live.outsider.organization, "admin@kita.test")
            for token in [clinicToken, pharmacyToken] {
                let reads = try await live.http.send("GET", "/v1/admin/audit?action=timeline.read", token: token)
                    .json?["entries"]?.arrayValue ?? []
                #expect(reads.count == 1)
                #expect(reads.first?["actor"]?.stringValue == live.outsider.id.rawValue)
                #expect(reads.first?["target"]?.stringValue == live.timeline.rawValue)
            }
        }
    }

    @Test func timelineCreationAndRefusedLoginsAreRecorded() async throws {
        try await withLiveNode { live in
            let http = live.http
            let created = try await http.send("POST", "/v1/timelines", json: ["title": "Patient Mori", "kind": "patient"],
                                              token: live.ownerToken)
            let id = try #require(created.json?["id"]?.stringValue)
            // Five wrong passwords lock the nurse's address; the sixth attempt is refused unchecked.
            for _ in 0..<6 {
                _ = try await http.send("POST", "/v1/sessions", json: ["email": "nurse@sakura.test", "password": "wrong password!"])
            }
            let (_, adminToken) = try await admin(live, live.owner.organization, "admin@sakura.test")
            let entries = try await http.send("GET", "/v1/admin/audit", token: adminToken).json?["entries"]?.arrayValue ?? []
            let creation = entries.first { $0["action"]?.stringValue == "timeline.create" }
            #expect(creation?["target"]?.stringValue == id)
            #expect(creation?["actor"]?.stringValue == live.owner.id.rawValue)
            let refused = entries.filter { $0["action"]?.stringValue == "login.refused.locked" }
            #expect(refused.count == 1)
            #expect(refused.first?["target"]?.stringValue == live.nurse.id.rawValue)
        }
    }

    @Test func anActionWhoseAuditEntryCannotBeWrittenDoesNotHappen() async throws {
        try await withLiveNode { live in
            // The audit log refuses member.remove entries (as a full disk or a broken log would).
            let trigger = """
                CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log WHEN NEW.action = 'member.remove'
                BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END
                """
            let sqlite = try await Tool.run("/usr/bin/env", ["python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
                live.directory + "/tsunagu.sqlite", trigger])
            #expect(sqlite.status == 0, "\(sqlite.output)")
            let removed = try await live.http.send("DELETE", "/v1/timelines/\(live.timeline.rawValue)/members/\(live.family.id.rawValue)",
                                                   token: live.ownerToken)
            #expect(removed.status >= 500, "\(removed.status)")
            #expect(try await live.store.role(of: live.family.id, in: live.timeline) == .viewer)
        }
    }
}
