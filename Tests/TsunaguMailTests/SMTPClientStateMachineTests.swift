import Testing

@testable import TsunaguMail

/// Transcripts of whole sessions through the pure state machine: what the server says, and what
/// the client must do next.
@Suite("SMTP client state machine")
struct SMTPClientStateMachineTests {
    /// A session from noreply@example.jp to nurse@clinic.example; shared with the TLS transcripts.
    static func machine(requireTLS: Bool = false, useSTARTTLS: Bool = true,
                        credentials: (String, String)? = nil) -> SMTPClientStateMachine {
        var settings = SMTPClientStateMachine.Settings(heloName: "hub.example.jp")
        settings.requireTLS = requireTLS
        settings.useSTARTTLSWhenOffered = useSTARTTLS
        settings.credentials = credentials.map { (username: $0.0, password: $0.1) }
        return SMTPClientStateMachine(settings: settings, from: "noreply@example.jp", to: "nurse@clinic.example")
    }

    func machine() -> SMTPClientStateMachine { Self.machine() }
    func reply(_ code: Int, _ lines: String...) -> SMTPReply { SMTPReply(code: code, lines: lines.isEmpty ? [""] : lines) }

    @Test func happyPathWithoutExtensions() {
        var sm = self.machine()
        #expect(sm.receivedReply(self.reply(220, "mx ESMTP")) == .send("EHLO hub.example.jp"))
        #expect(sm.receivedReply(self.reply(250, "mx", "8BITMIME", "SIZE 1000000")) == .send("MAIL FROM:<noreply@example.jp>"))
        #expect(sm.receivedReply(self.reply(250, "OK")) == .send("RCPT TO:<nurse@clinic.example>"))
        #expect(sm.receivedReply(self.reply(250, "OK")) == .send("DATA"))
        #expect(sm.receivedReply(self.reply(354, "go ahead")) == .sendMessageBody)
        #expect(sm.receivedReply(self.reply(250, "queued")) == .succeed(thenSend: "QUIT"))
        #expect(sm.receivedReply(self.reply(221, "bye")) == .close)
        #expect(sm.state == .finished)
        // A close after QUIT is harmless, and nothing more is done.
        #expect(sm.connectionFailed("closed") == .none)
    }

    @Test func ehloRefusedFallsBackToHELO() {
        var sm = self.machine()
        _ = sm.receivedReply(self.reply(220))
        #expect(sm.receivedReply(self.reply(502, "command not implemented")) == .send("HELO hub.example.jp"))
        #expect(sm.receivedReply(self.reply(250, "hello")) == .send("MAIL FROM:<noreply@example.jp>"))
    }

    @Test func ehloTransientFailureIsNotAHELOFallback() {
        var sm = self.machine()
        _ = sm.receivedReply(self.reply(220))
        #expect(sm.receivedReply(self.reply(421, "busy")) == .fail(.unexpectedReply(code: 421, stage: "EHLO"), quit: true))
    }

    @Test func fourXXAtRcptIsTransient() {
        var sm = self.machine()
        _ = sm.receivedReply(self.reply(220))
        _ = sm.receivedReply(self.reply(250))
        _ = sm.receivedReply(self.reply(250))
        let action = sm.receivedReply(self.reply(450, "mailbox busy"))
        #expect(action == .fail(.unexpectedReply(code: 450, stage: "RCPT TO"), quit: true))
        if case .fail(let error, _) = action { #expect(!error.isPermanent) }
        #expect(sm.state == .finished)
    }

    @Test func fiveXXIsPermanentAtEveryStage() {
        // (replies before the failing one, the stage that fails)
        let cases: [([SMTPReply], String)] = [
            ([], "greeting"),
            ([self.reply(220), self.reply(250)], "MAIL FROM"),
            ([self.reply(220), self.reply(250), self.reply(250)], "RCPT TO"),
            ([self.reply(220), self.reply(250), self.reply(250), self.reply(250)], "DATA"),
            ([self.reply(220), self.reply(250), self.reply(250), self.reply(250), self.reply(354)], "end of data"),
        ]
        for (before, stage) in cases {
            var sm = self.machine()
            for reply in before { _ = sm.receivedReply(reply) }
            let action = sm.receivedReply(self.reply(554, "no"))
            #expect(action == .fail(.permanent(code: 554, stage: stage), quit: true), "stage \(stage)")
            if case .fail(let error, _) = action { #expect(error.isPermanent) }
        }
    }

    @Test func unexpectedPositiveReplyIsTransient() {
        var sm = self.machine()
        _ = sm.receivedReply(self.reply(220))
        _ = sm.receivedReply(self.reply(250))
        _ = sm.receivedReply(self.reply(250))
        _ = sm.receivedReply(self.reply(250))
        // DATA must be answered with 354.
        #expect(sm.receivedReply(self.reply(250)) == .fail(.unexpectedReply(code: 250, stage: "DATA"), quit: true))
    }

    @Test func timeoutsAndClosesNameTheStage() {
        var sm = self.machine()
        #expect(sm.timedOut() == .fail(.timeout(stage: "greeting"), quit: false))

        var closed = self.machine()
        _ = closed.receivedReply(self.reply(220))
        #expect(closed.connectionFailed("connection reset") == .fail(.connection("connection reset at EHLO"), quit: false))

        // After the message was accepted, a missing QUIT reply only closes.
        var late = self.machine()
        for reply in [self.reply(220), self.reply(250), self.reply(250), self.reply(250), self.reply(354), self.reply(250)] {
            _ = late.receivedReply(reply)
        }
        #expect(late.timedOut() == .close)
    }

}
