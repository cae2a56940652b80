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
        let check = try await Tool.run("/usr/bin/env", ["python3", "-c", "import aiosmtpd"])
        try #require(check.status == 0, "aiosmtpd is not importable by python3: pip install aiosmtpd (or TSUNAGU_SKIP_SMTP=1)")
        let mailbox = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-maildir-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: mailbox) }
        let port = Int.random(in: 30000...39999)
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
            let text = try await Self.firstMail(in: mailbox + "/new")
            #expect(text.contains("kana@sakura.test"))
            let decoded = Self.unfoldQuotedPrintable(text)
            guard let range = decoded.range(of: "#token=") else { throw TestFailure("no link in the mail") }
            let token = String(decoded[range.upperBound...].prefix { !$0.isWhitespace })
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
            #expect(try FileManager.default.contentsOfDirectory(atPath: mailbox + "/new").count == 1)
        }
    }

    private static func firstMail(in directory: String) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let name = try? FileManager.default.contentsOfDirectory(atPath: directory).first,
                let data = FileManager.default.contents(atPath: directory + "/" + name) {
                return String(decoding: data, as: UTF8.self)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("no mail reached the SMTP server")
    }

    /// Undoes quoted-printable soft line breaks and `=3D`, enough to read the link back.
    private static func unfoldQuotedPrintable(_ text: String) -> String {
        text.replacingOccurrences(of: "=\r\n", with: "").replacingOccurrences(of: "=\n", with: "")
            .replacingOccurrences(of: "=3D", with: "=")
    }
}
