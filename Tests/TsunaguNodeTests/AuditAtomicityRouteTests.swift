import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguMail
import TsunaguStore

/// Through the HTTP and WebSocket routes: an action whose audit entry cannot be written does not
/// happen, and a read of patient data whose entry cannot be written returns no data
/// (docs/security.md, "Audit log"). As `AuditAccessTests.anActionWhoseAuditEntryCannotBeWrittenDoesNotHappen`,
/// the log refuses one action's entries with a trigger. The store-level twin, on both backends,
/// is `AuditAtomicityTests`.
@Suite struct AuditAtomicityRouteTests {
    enum Action: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case loginLocked = "login.locked"
        case passwordReset = "password.reset"
        case memberInvited = "member.invited"
        case inviteAccept = "member.invite.accept"
        case inviteDecline = "member.invite.decline"
        case timelineRead = "timeline.read"
        case timelineSubscribe = "timeline.subscribe"

        var testDescription: String { rawValue }
    }

    private func refuse(_ action: Action, _ live: LiveNode) async throws {
        let trigger = """
            CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log WHEN NEW.action = '\(action.rawValue)'
            BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END
            """
        let sqlite = try await Tool.run("/usr/bin/env", ["python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
            live.directory + "/tsunagu.sqlite", trigger])
        #expect(sqlite.status == 0, "\(sqlite.output)")
    }

    private func mail(_ transport: InMemoryTransport, count: Int) async throws -> [MailMessage] {
        let deadline = ContinuousClock.now + .seconds(10)
        while transport.delivered.count < count {
            guard ContinuousClock.now < deadline else { throw TestFailure("no mail arrived") }
            try await Task.sleep(for: .milliseconds(50))
        }
        return transport.delivered
    }

    @Test(arguments: Action.allCases)
    func anActionWhoseAuditEntryCannotBeWrittenDoesNotHappen(_ action: Action) async throws {
        let transport = InMemoryTransport()
        try await withLiveNode({ $0.mailTransport = transport }) { live in
            let http = live.http
            let timeline = live.timeline.rawValue
            let pharmacist = live.outsider
            // The invitation the answers answer, made while the log takes every entry.
            var invitation: InvitationID?
            if action == .inviteAccept || action == .inviteDecline {
                let invited = try await http.send("POST", "/v1/timelines/\(timeline)/members",
                                                  json: ["email": "pharm@kita.test", "role": "member"], token: live.ownerToken)
                #expect(invited.status == 202)
                invitation = try await live.store.invitations(for: pharmacist.id).first?.id
                #expect(invitation != nil)
            }
            try await refuse(action, live)

            switch action {
            case .loginLocked:
                // Four wrong passwords are refused as usual; the fifth would lock the address.
                for _ in 0..<4 {
                    let reply = try await http.send("POST", "/v1/sessions", json: ["email": "nurse@sakura.test", "password": "wrong password!"])
                    #expect(reply.status == 401)
                }
                let fifth = try await http.send("POST", "/v1/sessions", json: ["email": "nurse@sakura.test", "password": "wrong password!"])
                #expect(fifth.status >= 500, "\(fifth.status)")
                #expect(try await live.store.loginLockedUntil(email: "nurse@sakura.test", source: "127.0.0.1") == nil)

            case .passwordReset:
                #expect(try await http.send("POST", "/v1/registrations", json: ["email": "nurse@sakura.test"]).status == 202)
                let message = try #require(try await mail(transport, count: 1).first)
                let range = try #require(message.textBody.range(of: "#token="))
                let token = String(message.textBody[range.upperBound...].prefix { !$0.isWhitespace })
                let reset = try await http.send("POST", "/v1/registrations/complete",
                                                json: ["token": .string(token), "password": "a-new-passphrase-42"])
                #expect(reset.status >= 500, "\(reset.status)")
                let old = try await http.send("POST", "/v1/sessions", json: ["email": "nurse@sakura.test", "password": .string(LiveNode.password)])
                #expect(old.status == 201, "the old password still holds")
                #expect(try await http.send("GET", "/v1/me", token: live.nurseToken).status == 200, "no session ended")

            case .memberInvited:
                let invited = try await http.send("POST", "/v1/timelines/\(timeline)/members",
                                                  json: ["email": "pharm@kita.test", "role": "member"], token: live.ownerToken)
                #expect(invited.status >= 500, "\(invited.status)")
                #expect(try await live.store.invitations(for: pharmacist.id).isEmpty)

            case .inviteAccept, .inviteDecline:
                let id = try #require(invitation)
                let verb = action == .inviteAccept ? "accept" : "decline"
                let answered = try await http.send("POST", "/v1/me/invitations/\(id.rawValue)/\(verb)", token: live.outsiderToken)
                #expect(answered.status >= 500, "\(answered.status)")
                #expect(try await live.store.invitations(for: pharmacist.id).map(\.id) == [id], "still pending")
                #expect(try await live.store.role(of: pharmacist.id, in: live.timeline) == nil)

            case .timelineRead:
                let page = try await http.send("GET", "/v1/timelines/\(timeline)/events", token: live.nurseToken)
                #expect(page.status >= 500, "\(page.status)")
                #expect(page.json?["events"] == nil, "no patient data without its entry")

            case .timelineSubscribe:
                let reader = try await live.session(live.nurseToken)
                let reply = try await reader.subscribe(live.timeline, since: 0)
                #expect(reply["type"]?.stringValue == "error", "\(reply)")
                // Nothing of the timeline reaches the refused subscriber, replayed or live.
                let writer = try await live.session(live.ownerToken)
                #expect(try await writer.post(live.timeline, "after the refusal")["type"]?.stringValue == "ok")
                #expect(try await reader.expectSilence() == nil)
                await writer.close()
                await reader.close()
            }
        }
    }
}
