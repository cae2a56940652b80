import Foundation

/// The client side of one SMTP session that sends one message: a pure state machine over an
/// explicit state enum. Its methods take what happened (a reply, TLS up, a timeout, a close) and
/// return what to do; `SMTPClientHandler` does the I/O. Tested as transcripts, without sockets.
///
/// The dialogue (RFC 5321 §3, RFC 3207, RFC 4954):
/// `220` greeting → `EHLO` (on 5xx, `HELO`) → `STARTTLS` when offered (then TLS, and `EHLO` again:
/// RFC 3207 §4.2 says the client must discard what it learned before TLS) → `AUTH PLAIN` when
/// credentials are set, only over TLS → `MAIL FROM` → `RCPT TO` → `DATA` → body → `QUIT`.
/// One command is outstanding at a time (no PIPELINING): a transactional mailer gains nothing
/// from it and the state machine stays a straight line.
struct SMTPClientStateMachine {
    struct Settings: Sendable {
        var heloName: String
        var useSTARTTLSWhenOffered = true
        var requireTLS = false
        /// The connection is TLS from its first byte (`smtps://`): no STARTTLS.
        var implicitTLS = false
        var credentials: (username: String, password: String)?
    }

    private(set) var state: State = .awaitingGreeting
    /// True once the TLS handshake after STARTTLS completed.
    private(set) var isTLS = false
    private let settings: Settings
    private let from: String
    private let to: String

    /// `from` and `to` must already have passed `MailAddress.validate`.
    init(settings: Settings, from: String, to: String) {
        self.settings = settings
        self.isTLS = settings.implicitTLS
        self.from = from
        self.to = to
    }

    /// The stage name used in errors and logs.
    var stage: String { self.state.stageName }

    mutating func receivedReply(_ reply: SMTPReply) -> Action {
        let code = reply.code
        switch self.state {
        case .awaitingGreeting:
            guard code == 220 else { return self.fail(.forReply(code: code, stage: self.stage), quit: true) }
            return self.transition(to: .awaitingEHLO, send: "EHLO \(self.settings.heloName)")

        case .awaitingEHLO:
            if code == 250 {
                return self.afterHello(startTLSOffered: reply.ehloKeywords.contains("STARTTLS"))
            }
            // RFC 5321 §3.2: a server that does not support EHLO answers 5xx (usually 500/502),
            // and the client falls back to HELO. After TLS the server already spoke ESMTP, so a
            // refusal there is a real failure.
            if (500..<600).contains(code), !self.isTLS {
                return self.transition(to: .awaitingHELO, send: "HELO \(self.settings.heloName)")
            }
            return self.fail(.forReply(code: code, stage: self.stage), quit: true)

        case .awaitingHELO:
            guard code == 250 else { return self.fail(.forReply(code: code, stage: self.stage), quit: true) }
            return self.afterHello(startTLSOffered: false)

        case .awaitingSTARTTLS:
            if code == 220 {
                self.state = .tlsHandshake
                return .startTLS
            }
            // RFC 3207 §4: on 454 "TLS not available" the client decides whether to go on in
            // plaintext; it may only when TLS was opportunistic.
            if self.settings.requireTLS || self.settings.credentials != nil {
                return self.fail(.forReply(code: code, stage: self.stage), quit: true)
            }
            return self.sendMailFrom()

        case .tlsHandshake:
            // Nothing may arrive between the 220 to STARTTLS and the end of the handshake.
            return self.fail(.connection("reply received during the TLS handshake"), quit: false)

        case .awaitingAuth:
            guard code == 235 else { return self.fail(.forReply(code: code, stage: self.stage), quit: true) }
            return self.sendMailFrom()

        case .awaitingMailFrom:
            guard code == 250 else { return self.fail(.forReply(code: code, stage: self.stage), quit: true) }
            return self.transition(to: .awaitingRcptTo, send: "RCPT TO:<\(self.to)>")

        case .awaitingRcptTo:
            // 251 "user not local; will forward" is a success too (§4.2.2).
            guard code == 250 || code == 251 else { return self.fail(.forReply(code: code, stage: self.stage), quit: true) }
            return self.transition(to: .awaitingDataReady, send: "DATA")

        case .awaitingDataReady:
            guard code == 354 else { return self.fail(.forReply(code: code, stage: self.stage), quit: true) }
            self.state = .awaitingDataAccepted
            return .sendMessageBody

        case .awaitingDataAccepted:
            guard code == 250 else { return self.fail(.forReply(code: code, stage: self.stage), quit: true) }
            self.state = .awaitingQuitReply
            return .succeed(thenSend: "QUIT")

        case .awaitingQuitReply:
            self.state = .finished
            return .close

        case .finished:
            return .none
        }
    }

    /// The TLS handshake after STARTTLS completed: greet again over TLS.
    mutating func tlsEstablished() -> Action {
        guard self.state == .tlsHandshake else { return .none }
        self.isTLS = true
        return self.transition(to: .awaitingEHLO, send: "EHLO \(self.settings.heloName)")
    }

    /// No reply within the command timeout.
    mutating func timedOut() -> Action {
        let error = SMTPError.timeout(stage: self.stage)
        return self.connectionLost(error)
    }

    /// The connection closed, or failed (`reason` is a short description of the network error).
    mutating func connectionFailed(_ reason: String) -> Action {
        let error = SMTPError.connection("\(reason) at \(self.stage)")
        return self.connectionLost(error)
    }

    /// The server stopped answering. After QUIT that is harmless: the message was already accepted.
    private mutating func connectionLost(_ error: SMTPError) -> Action {
        switch self.state {
        case .finished: return .none
        case .awaitingQuitReply:
            self.state = .finished
            return .close
        default:
            return self.fail(error, quit: false)
        }
    }

    // MARK: - Steps

    private mutating func afterHello(startTLSOffered: Bool) -> Action {
        let needsTLS = self.settings.requireTLS || self.settings.credentials != nil
        if !self.isTLS {
            if startTLSOffered, self.settings.useSTARTTLSWhenOffered || needsTLS {
                return self.transition(to: .awaitingSTARTTLS, send: "STARTTLS")
            }
            // AUTH PLAIN sends the password in the clear (RFC 4954 §4 asks for TLS first).
            if needsTLS { return self.fail(.tlsRequired, quit: true) }
        }
        if let credentials = self.settings.credentials {
            // RFC 4616: authzid NUL authcid NUL passwd, sent as the AUTH initial response.
            let token = Data("\0\(credentials.username)\0\(credentials.password)".utf8).base64EncodedString()
            return self.transition(to: .awaitingAuth, send: "AUTH PLAIN \(token)")
        }
        return self.sendMailFrom()
    }

    private mutating func sendMailFrom() -> Action {
        self.transition(to: .awaitingMailFrom, send: "MAIL FROM:<\(self.from)>")
    }

    private mutating func transition(to state: State, send command: String) -> Action {
        self.state = state
        return .send(command)
    }

    private mutating func fail(_ error: SMTPError, quit: Bool) -> Action {
        self.state = .finished
        return .fail(error, quit: quit)
    }
}
