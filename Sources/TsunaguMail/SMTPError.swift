/// Why a message was not delivered. The one error type of TsunaguMail.
///
/// No case carries a message body, a subject or a recipient address, and reply texts from the
/// server are dropped (a `550 <someone@example.jp>: unknown user` would leak the address into
/// the outbox's error column and the logs): only reply codes and the SMTP stage are kept.
///
/// Retry policy (`isPermanent`): 5xx replies and invalid messages are permanent (retrying cannot
/// help, RFC 5321 §4.2.1 "permanent negative completion"); 4xx replies, network and file errors,
/// timeouts and configuration problems are transient and the delivery worker retries them with
/// backoff.
public enum SMTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The TCP connection or the TLS session failed or was closed early (transient).
    case connection(String)
    /// The server answered with a code that does not fit the stage: a 4xx, or nonsense (transient).
    case unexpectedReply(code: Int, stage: String)
    /// The server did not answer within `commandTimeout` (transient).
    case timeout(stage: String)
    /// TLS was required (by `requireTLS` or because credentials are configured) but the server did
    /// not offer STARTTLS (permanent: the server's configuration will not change by retrying).
    case tlsRequired
    /// The server refused with a 5xx reply (permanent).
    case permanent(code: Int, stage: String)
    /// A sender or recipient address was refused before anything was sent (permanent).
    case invalidAddress(String)
    /// The message itself is unusable, e.g. its id cannot name a file (permanent).
    case invalidMessage(String)
    /// An SMTP URL or configuration value is unusable: raised by `SMTPConfiguration.parse(url:)`,
    /// and at delivery (transient there: an operator can fix the configuration and restart).
    case invalidConfiguration(String)
    /// Writing a `.eml` file failed, e.g. a full disk (transient).
    case io(String)

    /// Whether retrying the same message can never succeed.
    public var isPermanent: Bool {
        switch self {
        case .permanent, .invalidAddress, .invalidMessage: true
        // A server without STARTTLS or a bad setting is fixed by an operator, not by the sender:
        // keep the mail until then (maxAttempts still bounds it).
        case .connection, .unexpectedReply, .timeout, .tlsRequired, .invalidConfiguration, .io: false
        }
    }

    public var description: String {
        switch self {
        case .connection(let reason): "SMTP connection failed: \(reason)"
        case .unexpectedReply(let code, let stage): "SMTP server replied \(code) at \(stage) (transient)"
        case .timeout(let stage): "SMTP server did not answer at \(stage) in time"
        case .tlsRequired: "TLS is required but the SMTP server does not offer STARTTLS"
        case .permanent(let code, let stage): "SMTP server refused with \(code) at \(stage) (permanent)"
        case .invalidAddress(let reason): "invalid mail address: \(reason)"
        case .invalidMessage(let reason): "invalid mail message: \(reason)"
        case .invalidConfiguration(let reason): "invalid SMTP configuration: \(reason)"
        case .io(let reason): "writing mail failed: \(reason)"
        }
    }

    /// Classifies a reply that is not the one a stage expected: RFC 5321 §4.2.1, the first digit
    /// says 4 = transient negative, 5 = permanent negative; anything else is a protocol surprise.
    static func forReply(code: Int, stage: String) -> SMTPError {
        (500..<600).contains(code) ? .permanent(code: code, stage: stage) : .unexpectedReply(code: code, stage: stage)
    }
}
