/// Who a bearer token belongs to: the check a WebSocket `auth` makes. `Session` is the caller's
/// session record; the core only needs to know when it expires.
public protocol SessionAuthority<Session>: Sendable {
    associatedtype Session: Sendable
    /// On the calling thread (the node calls it on an event loop: it is a short indexed read).
    func authenticate(token: String, certificateFingerprint: [UInt8]?) throws -> Authentication<Session>
}

/// The answer of a `SessionAuthority`.
public enum Authentication<Session: Sendable>: Sendable {
    case live(Session, expiresAtMillis: Int64)
    /// No live session has this token (unknown, revoked, expired, or its user disabled).
    case unknownToken
    /// The organization requires a registered client certificate and none (or another) was shown.
    case clientCertificateRequired
}
