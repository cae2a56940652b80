import Foundation
import NIOPosix
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguMail
import TsunaguStore

/// Issue 11 item 5: a password reset by mailed link, over a real SMTP server (aiosmtpd), ends
/// every session of the account and its sockets, uses up every other link, leaves the display
/// name alone, and mails a notice that carries no link and no secret.
@Suite(.processHeavy) struct PasswordResetOverSMTPTests {
    @Test(.disabled(if: ProcessInfo.processInfo.environment["TSUNAGU_SKIP_SMTP"] == "1", "TSUNAGU_SKIP_SMTP=1"))
    func item5APasswordResetEndsSessionsUsesUpOtherLinksKeepsTheNameAndSendsANotice() async throws {
        let mailbox = try await SMTPMailbox.start()
        defer { mailbox.stop() }
        try await withLiveNode({ $0.mailTransport = mailbox.transport }) { live in
            let socket = try await live.session(live.nurseToken)
            // Two links asked for; the second is used.
            for _ in 0..<2 {
                #expect(try await live.http.send("POST", "/v1/registrations", json: ["email": .string(live.nurse.email)]).status == 202)
            }
            let links = try await mailbox.mails(count: 2).map(SMTPMailbox.token(in:))
            #expect(Set(links).count == 2)
            let reset = try await live.http.send("POST", "/v1/registrations/complete",
                                                 json: ["token": .string(links[1]), "password": "Fresh-harbor-42"])
            #expect(reset.status == 200)
            #expect(reset.json?["user"]?.objectValue?["name"]?.stringValue == "Sato Hanako")
            #expect(try await live.store.user(id: live.nurse.id)?.name == "Sato Hanako")
            // Every session ended, and its socket closed.
            #expect(try await socket.waitForClose() == TsunaguCloseCode.sessionEnded)
            #expect(try await live.http.send("GET", "/v1/me", token: live.nurseToken).status == 401)
            // The other link is used up.
            let other = try await live.http.send("POST", "/v1/registrations/complete",
                                                 json: ["token": .string(links[0]), "password": "Another-harbor-77"])
            #expect(other.status == 409)
            // The new password works; the old one does not.
            #expect(try await live.http.send("POST", "/v1/sessions", json: ["email": .string(live.nurse.email),
                                                                            "password": "Fresh-harbor-42"]).status == 201)
            #expect(try await live.http.send("POST", "/v1/sessions", json: ["email": .string(live.nurse.email),
                                                                            "password": .string(LiveNode.password)]).status == 401)
            // The notice: to the account, without link or token.
            let all = try await mailbox.mails(count: 3)
            let notice = try #require(all.first { $0.contains("account was changed") })
            #expect(notice.contains(live.nurse.email))
            #expect(!notice.contains("token"))
            #expect(!notice.contains("http"))
            for link in links { #expect(!notice.contains(link)) }
            let actions = try await live.store.auditEntries(organization: live.nurse.organization, fromMillis: 0,
                                                            toMillis: .max, limit: 1000).map(\.record.action)
            #expect(actions.contains("password.reset"))
        }
    }
}
