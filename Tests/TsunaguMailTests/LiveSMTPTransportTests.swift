import Foundation
import NIOPosix
import Testing

@testable import TsunaguMail

/// `SMTPTransport` against a real SMTP server (aiosmtpd) on loopback.
@Suite("SMTP transport against aiosmtpd", .serialized,
       .disabled(if: AiosmtpdServer.skipRequested, "TSUNAGU_SKIP_SMTP=1"))
struct LiveSMTPTransportTests {
    func configuration(port: Int) -> SMTPConfiguration {
        var configuration = SMTPConfiguration(host: "127.0.0.1", port: port, heloName: "hub.tsunagu.test")
        configuration.commandTimeout = .seconds(10)
        return configuration
    }

    func transport(_ configuration: SMTPConfiguration) -> SMTPTransport {
        SMTPTransport(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton)
    }

    @Test func deliversJapaneseSubjectAndDotLines() async throws {
        let server = try await AiosmtpdServer()
        defer { server.stop() }
        let body = """
            Please open this link within 24 hours to activate your Tsunagu account (アカウント有効化):
            https://tsunagu.example/activate?token=Q2FyZSB0ZWFtcyBjb25uZWN0ZWQ
            .a line that starts with a dot
            .
            ..two dots
            If you did not ask for this, ignore this message.

            """
        let message = MailMessage(id: "act-live-1", from: "noreply@tsunagu.example", to: "nurse@clinic.example",
                                  subject: "【つなぐ】アカウント登録のご案内", textBody: body)
        try await self.transport(self.configuration(port: server.port)).deliver(message)

        let decoded = try server.decodedMessages()
        try #require(decoded.count == 1)
        let stored = decoded[0]
        #expect(stored["Subject"] == "【つなぐ】アカウント登録のご案内")
        #expect(stored["From"] == "noreply@tsunagu.example")
        #expect(stored["To"] == "nurse@clinic.example")
        #expect(stored["Message-ID"] == "<act-live-1@tsunagu.example>")
        #expect(stored["Content-Type"] == "text/plain; charset=utf-8")
        #expect(stored["Content-Transfer-Encoding"] == "quoted-printable")
        #expect(stored["Date"]?.hasSuffix("+0900") == true)
        // aiosmtpd records the envelope it was given.
        #expect(stored["X-MailFrom"] == "noreply@tsunagu.example")
        #expect(stored["X-RcptTo"] == "nurse@clinic.example")
        // The dot lines arrive as written: the client stuffed them and the server un-stuffed them.
        #expect(stored["body"] == body)

        let raw = try #require(try server.storedFiles().first)
        #expect(raw.contains("\n.a line that starts with a dot"))
        #expect(raw.contains("\n.\n") || raw.contains("\n.\r\n"))
    }

    @Test func upgradesWithSTARTTLSWhenTheServerRequiresIt() async throws {
        let certificates = NSTemporaryDirectory() + "tsunagu-cert-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: certificates) }
        let pem = try AiosmtpdServer.makeCertificate(in: certificates)
        var options = AiosmtpdServer.Options()
        options.tls = pem
        options.requireTLS = true
        let server = try await AiosmtpdServer(options)
        defer { server.stop() }

        var configuration = self.configuration(port: server.port)
        configuration.tlsTrustRoots = .pemFile(pem.certificate)
        configuration.requireTLS = true
        let message = MailMessage(id: "act-live-tls", from: "noreply@tsunagu.example", to: "family@home.example",
                                  subject: "ご家族の皆さまへ", textBody: "いつもお世話になっております。\n本日の記録を共有しました。\n")
        try await self.transport(configuration).deliver(message)

        let decoded = try server.decodedMessages()
        try #require(decoded.count == 1)
        #expect(decoded[0]["Subject"] == "ご家族の皆さまへ")
        #expect(decoded[0]["Content-Transfer-Encoding"] == "base64")
        #expect(decoded[0]["body"] == "いつもお世話になっております。\n本日の記録を共有しました。\n")
    }

    @Test func untrustedCertificateIsRefused() async throws {
        let certificates = NSTemporaryDirectory() + "tsunagu-cert-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: certificates) }
        var options = AiosmtpdServer.Options()
        options.tls = try AiosmtpdServer.makeCertificate(in: certificates)
        let server = try await AiosmtpdServer(options)
        defer { server.stop() }

        // The system trust roots do not know the test's self-signed certificate.
        let message = MailMessage(id: "act-untrusted", from: "noreply@tsunagu.example", to: "x@clinic.example",
                                  subject: "s", textBody: "secret link\n")
        await #expect {
            try await self.transport(self.configuration(port: server.port)).deliver(message)
        } throws: { error in
            guard case .connection(let reason) = error as? SMTPError else { return false }
            return reason.contains("TLS handshake") && !reason.contains("secret")
        }
        #expect(try server.storedFiles().isEmpty)
    }

    @Test func authPlainOverTLS() async throws {
        let certificates = NSTemporaryDirectory() + "tsunagu-cert-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: certificates) }
        let pem = try AiosmtpdServer.makeCertificate(in: certificates)
        var options = AiosmtpdServer.Options()
        options.tls = pem
        options.auth = "hub:correct horse"
        let server = try await AiosmtpdServer(options)
        defer { server.stop() }

        var configuration = try SMTPConfiguration.parse(url: "smtp://hub:correct%20horse@127.0.0.1:\(server.port)")
        configuration.tlsTrustRoots = .pemFile(pem.certificate)
        configuration.commandTimeout = .seconds(10)
        let message = MailMessage(id: "act-auth", from: "noreply@tsunagu.example", to: "x@clinic.example", subject: "s", textBody: "b\n")
        try await self.transport(configuration).deliver(message)
        #expect(try server.decodedMessages().count == 1)

        configuration.password = "wrong"
        await #expect(throws: SMTPError.permanent(code: 535, stage: "AUTH")) {
            try await self.transport(configuration).deliver(message)
        }
    }

    @Test func requireTLSAgainstAPlainServerSendsNothing() async throws {
        let server = try await AiosmtpdServer()
        defer { server.stop() }
        var configuration = self.configuration(port: server.port)
        configuration.requireTLS = true
        let message = MailMessage(id: "act-plain", from: "noreply@tsunagu.example", to: "x@clinic.example", subject: "s", textBody: "b\n")
        await #expect(throws: SMTPError.tlsRequired) { try await self.transport(configuration).deliver(message) }
        #expect(try server.storedFiles().isEmpty)
    }

    /// Issue 11 item 5: `smtps://` speaks TLS from the first byte (RFC 8314), to a server that
    /// offers no STARTTLS; the same server refuses a plaintext session.
    @Test func item5ImplicitTLSDeliversOverSmtps() async throws {
        let certificates = NSTemporaryDirectory() + "tsunagu-cert-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: certificates) }
        let pem = try AiosmtpdServer.makeCertificate(in: certificates)
        var options = AiosmtpdServer.Options()
        options.tls = pem
        options.implicitTLS = true
        options.auth = "hub:correct horse"
        let server = try await AiosmtpdServer(options)
        defer { server.stop() }

        var configuration = try SMTPConfiguration.parse(url: "smtps://hub@127.0.0.1:\(server.port)")
        #expect(configuration.implicitTLS)
        configuration.password = "correct horse"
        configuration.tlsTrustRoots = .pemFile(pem.certificate)
        configuration.commandTimeout = .seconds(10)
        configuration.heloName = "hub.tsunagu.test"
        let message = MailMessage(id: "act-smtps", from: "noreply@tsunagu.example", to: "x@clinic.example",
                                  subject: "smtps", textBody: "b\n")
        try await self.transport(configuration).deliver(message)
        #expect(try server.decodedMessages().map { $0["Subject"] } == ["smtps"])

        var plaintext = self.configuration(port: server.port)
        plaintext.commandTimeout = .seconds(3)
        await #expect(throws: SMTPError.self) { try await self.transport(plaintext).deliver(message) }
        #expect(try server.decodedMessages().count == 1)
    }

    /// Issue 11 item 5: with `--smtp-require-tls` (the default) TLS is required unless the relay
    /// is on loopback; the requirement holds against the real server, which then gets nothing.
    @Test func item5TLSIsRequiredUnlessTheRelayIsOnLoopback() async throws {
        for (url, required) in [("smtp://mail.example.jp:587", true), ("smtp://10.0.0.5:25", true),
                                ("smtps://mail.example.jp", true), ("smtp://[::1]:25", false),
                                ("smtp://127.0.0.1:25", false), ("smtp://127.0.0.2:2525", false),
                                ("smtp://localhost:25", false)] {
            var configuration = try SMTPConfiguration.parse(url: url)
            configuration.requireTLSUnlessOnLoopback(true)
            #expect(configuration.requireTLS == required, "\(url)")
            configuration.requireTLSUnlessOnLoopback(false)
            #expect(!configuration.requireTLS, "\(url)")
        }
        let server = try await AiosmtpdServer()
        defer { server.stop() }
        var configuration = self.configuration(port: server.port)
        configuration.host = "mail.relay.test"  // what the policy sees; the connection still goes to loopback below
        configuration.requireTLSUnlessOnLoopback(true)
        #expect(configuration.requireTLS)
        configuration.host = "127.0.0.1"
        let message = MailMessage(id: "act-offloop", from: "noreply@tsunagu.example", to: "x@clinic.example", subject: "s", textBody: "b\n")
        await #expect(throws: SMTPError.tlsRequired) { try await self.transport(configuration).deliver(message) }
        #expect(try server.storedFiles().isEmpty)
    }

    @Test func refusedConnectionIsTransient() async throws {
        let port = try await FreePort.pick()
        let message = MailMessage(id: "act-down", from: "noreply@tsunagu.example", to: "x@clinic.example", subject: "s", textBody: "b\n")
        await #expect {
            try await self.transport(self.configuration(port: port)).deliver(message)
        } throws: { error in
            guard let error = error as? SMTPError, case .connection = error else { return false }
            return !error.isPermanent
        }
    }
}
