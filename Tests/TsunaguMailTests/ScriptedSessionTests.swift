import Foundation
import NIOPosix
import Testing

@testable import TsunaguMail

/// `SMTPTransport` against scripted servers on loopback: the sessions a real server will not
/// produce on demand.
@Suite("SMTP transport against scripted servers")
struct ScriptedSessionTests {
    let message = MailMessage(id: "act-s", from: "noreply@tsunagu.example", to: "nurse@clinic.example",
                              subject: "s", textBody: "body\n")

    func transport(port: Int, timeout: Duration = .seconds(5)) -> SMTPTransport {
        var configuration = SMTPConfiguration(host: "127.0.0.1", port: port, heloName: "hub.tsunagu.test")
        configuration.commandTimeout = timeout
        return SMTPTransport(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton)
    }

    @Test func ehloRefusedFallsBackToHELO() async throws {
        let server = try await ScriptedSMTPServer(greeting: "220 old.example SMTP\r\n", replies: [
            "500 what is EHLO\r\n", "250 old.example\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 queued\r\n", "221 bye\r\n",
        ])
        try await self.transport(port: server.port).deliver(self.message)
        try await server.stop()
        #expect(server.commands.prefix(5) == [
            "EHLO hub.tsunagu.test", "HELO hub.tsunagu.test", "MAIL FROM:<noreply@tsunagu.example>",
            "RCPT TO:<nurse@clinic.example>", "DATA",
        ])
    }

    @Test func multiLineRepliesInPieces() async throws {
        let server = try await ScriptedSMTPServer(greeting: "220-mx.example\r\n220-welcome\r\n220 ready\r\n", replies: [
            "250-mx.example\r\n250-SIZE 1000\r\n250 8BITMIME\r\n", "250 ok\r\n", "250-ok\r\n250 really\r\n", "354 go\r\n",
            "250 queued\r\n", "221 bye\r\n",
        ])
        try await self.transport(port: server.port).deliver(self.message)
        try await server.stop()
        #expect(server.commands.count >= 4)
    }

    @Test func plaintextInjectedAfterSTARTTLSIsRefused() async throws {
        // CVE-2011-0411: a man in the middle appends a reply behind "220" that the client would
        // otherwise read as if it came over TLS.
        let server = try await ScriptedSMTPServer(greeting: "220 mx\r\n", replies: [
            "250-mx\r\n250 STARTTLS\r\n", "220 go ahead\r\n250-mx\r\n250 AUTH PLAIN\r\n",
        ])
        await #expect(throws: SMTPError.connection("plaintext received after the STARTTLS reply at TLS handshake")) {
            try await self.transport(port: server.port).deliver(self.message)
        }
        try await server.stop()
        #expect(server.commands == ["EHLO hub.tsunagu.test", "STARTTLS"])
    }

    @Test func silentServerTimesOut() async throws {
        let server = try await ScriptedSMTPServer(greeting: nil, replies: [])
        await #expect(throws: SMTPError.timeout(stage: "greeting")) {
            try await self.transport(port: server.port, timeout: .milliseconds(300)).deliver(self.message)
        }
        try await server.stop()
    }

    @Test func fourXXAtRcptIsTransientAndQuits() async throws {
        let server = try await ScriptedSMTPServer(greeting: "220 mx\r\n", replies: [
            "250 mx\r\n", "250 ok\r\n", "451 4.3.0 try later\r\n", "221 bye\r\n",
        ])
        await #expect(throws: SMTPError.unexpectedReply(code: 451, stage: "RCPT TO")) {
            try await self.transport(port: server.port).deliver(self.message)
        }
        try await Task.sleep(for: .milliseconds(100))
        try await server.stop()
        #expect(server.commands.last == "QUIT")
    }

    @Test func invalidRecipientIsRefusedBeforeConnecting() async throws {
        var bad = self.message
        bad.to = "nurse@clinic.example\r\nRSET"
        await #expect(throws: SMTPError.invalidAddress("recipient address contains CR or LF")) {
            // Nothing listens on port 9; the address check comes first.
            try await self.transport(port: 9).deliver(bad)
        }
    }
}
