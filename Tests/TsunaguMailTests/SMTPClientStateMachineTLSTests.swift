import Testing

@testable import TsunaguMail

/// Transcripts around STARTTLS and AUTH: when TLS is used, required, or refused, and that
/// credentials never travel in the clear.
@Suite("SMTP client state machine: STARTTLS and AUTH")
struct SMTPClientStateMachineTLSTests {
    func machine(requireTLS: Bool = false, useSTARTTLS: Bool = true, credentials: (String, String)? = nil) -> SMTPClientStateMachine {
        SMTPClientStateMachineTests.machine(requireTLS: requireTLS, useSTARTTLS: useSTARTTLS, credentials: credentials)
    }

    func reply(_ code: Int, _ lines: String...) -> SMTPReply {
        SMTPReply(code: code, lines: lines.isEmpty ? [""] : lines)
    }

    @Test func startTLSWhenOfferedThenEHLOAgain() {
        var sm = self.machine()
        _ = sm.receivedReply(self.reply(220))
        #expect(sm.receivedReply(self.reply(250, "mx", "PIPELINING", "starttls")) == .send("STARTTLS"))
        #expect(sm.receivedReply(self.reply(220, "ready")) == .startTLS)
        #expect(sm.state == .tlsHandshake)
        #expect(sm.tlsEstablished() == .send("EHLO hub.example.jp"))
        #expect(sm.isTLS)
        // Over TLS the server offers STARTTLS no more; even if it did, the client must not repeat it.
        #expect(sm.receivedReply(self.reply(250, "mx", "STARTTLS")) == .send("MAIL FROM:<noreply@example.jp>"))
    }

    @Test func startTLSNotUsedWhenDisabled() {
        var sm = self.machine(useSTARTTLS: false)
        _ = sm.receivedReply(self.reply(220))
        #expect(sm.receivedReply(self.reply(250, "mx", "STARTTLS")) == .send("MAIL FROM:<noreply@example.jp>"))
    }

    @Test func requireTLSWithoutSTARTTLSFails() {
        var sm = self.machine(requireTLS: true)
        _ = sm.receivedReply(self.reply(220))
        #expect(sm.receivedReply(self.reply(250, "mx", "8BITMIME")) == .fail(.tlsRequired, quit: true))
    }

    @Test func startTLSRefusedContinuesInPlaintextOnlyWhenTLSIsOptional() {
        var optional = self.machine()
        _ = optional.receivedReply(self.reply(220))
        _ = optional.receivedReply(self.reply(250, "mx", "STARTTLS"))
        #expect(optional.receivedReply(self.reply(454, "TLS not available")) == .send("MAIL FROM:<noreply@example.jp>"))

        var required = self.machine(requireTLS: true)
        _ = required.receivedReply(self.reply(220))
        _ = required.receivedReply(self.reply(250, "mx", "STARTTLS"))
        #expect(required.receivedReply(self.reply(454, "TLS not available"))
            == .fail(.unexpectedReply(code: 454, stage: "STARTTLS"), quit: true))
    }

    @Test func authPlainOnlyAfterTLS() {
        var sm = self.machine(credentials: ("hub", "s3cret"))
        _ = sm.receivedReply(self.reply(220))
        #expect(sm.receivedReply(self.reply(250, "mx", "AUTH PLAIN LOGIN", "STARTTLS")) == .send("STARTTLS"))
        _ = sm.receivedReply(self.reply(220))
        _ = sm.tlsEstablished()
        // base64("\0hub\0s3cret")
        #expect(sm.receivedReply(self.reply(250, "mx", "AUTH PLAIN LOGIN")) == .send("AUTH PLAIN AGh1YgBzM2NyZXQ="))
        #expect(sm.receivedReply(self.reply(235, "ok")) == .send("MAIL FROM:<noreply@example.jp>"))
    }

    @Test func credentialsWithoutTLSAreNeverSent() {
        var sm = self.machine(credentials: ("hub", "s3cret"))
        _ = sm.receivedReply(self.reply(220))
        #expect(sm.receivedReply(self.reply(250, "mx", "AUTH PLAIN")) == .fail(.tlsRequired, quit: true))
    }

    @Test func authRejectedIsPermanent() {
        var sm = self.machine(credentials: ("hub", "wrong"))
        _ = sm.receivedReply(self.reply(220))
        _ = sm.receivedReply(self.reply(250, "mx", "STARTTLS"))
        _ = sm.receivedReply(self.reply(220))
        _ = sm.tlsEstablished()
        _ = sm.receivedReply(self.reply(250, "mx", "AUTH PLAIN"))
        let action = sm.receivedReply(self.reply(535, "5.7.8 bad credentials"))
        #expect(action == .fail(.permanent(code: 535, stage: "AUTH"), quit: true))
    }

    @Test func replyDuringTLSHandshakeIsRefused() {
        var sm = self.machine()
        _ = sm.receivedReply(self.reply(220))
        _ = sm.receivedReply(self.reply(250, "mx", "STARTTLS"))
        _ = sm.receivedReply(self.reply(220))
        #expect(sm.receivedReply(self.reply(250, "injected")) == .fail(.connection("reply received during the TLS handshake"), quit: false))
    }
}
