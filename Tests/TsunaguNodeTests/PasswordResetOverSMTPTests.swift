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
        let check = try await Tool.run("/usr/bin/env", ["python3", "-c", "import aiosmtpd"])
        try #require(check.status == 0, "aiosmtpd is not importable by python3: pip install aiosmtpd (or TSUNAGU_SKIP_SMTP=1)")
        let mailbox = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-maildir-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: mailbox) }
        let port = Int.random(in: 40000...49999)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Mailbox", mailbox]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL) }
        let smtp = SMTPTransport(configuration: SMTPConfiguration(host: "127.0.0.1", port: port, heloName: "tsunagu.test"),
                                 group: MultiThreadedEventLoopGroup.singleton)
        try await withLiveNode({ $0.mailTransport = smtp }) { live in
            let socket = try await live.session(live.nurseToken)
            // Two links asked for; the second is used.
            for _ in 0..<2 {
                #expect(try await live.http.send("POST", "/v1/registrations", json: ["email": .string(live.nurse.email)]).status == 202)
            }
            let links = try await Self.mails(in: mailbox + "/new", count: 2).map(Self.token(in:))
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
            let all = try await Self.mails(in: mailbox + "/new", count: 3)
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

    /// The first `count` mails in the Maildir, oldest first.
    private static func mails(in directory: String, count: Int) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            if names.count >= count {
                let texts = names.compactMap { name -> (Date, String)? in
                    let path = directory + "/" + name
                    guard let data = FileManager.default.contents(atPath: path),
                        let modified = try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
                    else { return nil }
                    return (modified, String(decoding: data, as: UTF8.self))
                }
                return texts.sorted { $0.0 < $1.0 }.map { Self.decoded($0.1) }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("fewer than \(count) mails reached the SMTP server")
    }

    private static func token(in mail: String) throws -> String {
        guard let range = mail.range(of: "#token=") else { throw TestFailure("no link in the mail") }
        return String(mail[range.upperBound...].prefix { !$0.isWhitespace })
    }

    /// Headers as they are, the body decoded: base64 (mostly Japanese) or quoted-printable.
    private static func decoded(_ mail: String) -> String {
        let text = mail.replacingOccurrences(of: "\r\n", with: "\n")
        guard let split = text.range(of: "\n\n") else { return text }
        let headers = String(text[..<split.lowerBound])
        let body = String(text[split.upperBound...])
        if headers.lowercased().contains("content-transfer-encoding: base64"),
            let data = Data(base64Encoded: body.filter { !$0.isWhitespace }) {
            return headers + "\n\n" + String(decoding: data, as: UTF8.self)
        }
        return headers + "\n\n" + unfoldQuotedPrintable(body)
    }

    /// Undoes quoted-printable soft line breaks and `=3D`, enough to read the link back.
    private static func unfoldQuotedPrintable(_ text: String) -> String {
        text.replacingOccurrences(of: "=\r\n", with: "").replacingOccurrences(of: "=\n", with: "")
            .replacingOccurrences(of: "=3D", with: "=")
    }
}
