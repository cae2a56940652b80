extension SMTPClientStateMachine {
    /// Where the session stands: which reply the client waits for.
    enum State: Equatable {
        case awaitingGreeting
        case awaitingEHLO
        case awaitingHELO
        case awaitingSTARTTLS
        case tlsHandshake
        case awaitingAuth
        case awaitingMailFrom
        case awaitingRcptTo
        case awaitingDataReady
        case awaitingDataAccepted
        case awaitingQuitReply
        case finished

        /// The SMTP stage this state belongs to, as errors and logs name it.
        var stageName: String {
            switch self {
            case .awaitingGreeting: "greeting"
            case .awaitingEHLO: "EHLO"
            case .awaitingHELO: "HELO"
            case .awaitingSTARTTLS: "STARTTLS"
            case .tlsHandshake: "TLS handshake"
            case .awaitingAuth: "AUTH"
            case .awaitingMailFrom: "MAIL FROM"
            case .awaitingRcptTo: "RCPT TO"
            case .awaitingDataReady: "DATA"
            case .awaitingDataAccepted: "end of data"
            case .awaitingQuitReply: "QUIT"
            case .finished: "finished"
            }
        }
    }

    /// What the handler must do next.
    enum Action: Equatable {
        case none
        /// Write one command line (the handler appends CRLF).
        case send(String)
        /// Write the dot-stuffed message followed by `CRLF.CRLF`.
        case sendMessageBody
        /// Put TLS in front of the connection and handshake.
        case startTLS
        /// The server took responsibility for the message (250 after the body): report success,
        /// then write this command (QUIT). Success is reported here and not after QUIT so that a
        /// lost QUIT reply never makes the worker send the message twice.
        case succeed(thenSend: String)
        /// Report the error and close; when `quit` is true, the session is still in step and a
        /// polite QUIT goes first (RFC 5321 §4.1.1.10).
        case fail(SMTPError, quit: Bool)
        /// QUIT answered (or not, in time): close the connection.
        case close
    }
}
