/// The error codes of docs/protocol.md §5. The one mapping from domain errors to these codes lives in the
/// node (`WireMapping.swift`); the core only names them.
public enum WireErrorCode: String, Sendable, Codable, CaseIterable {
    case badRequest = "bad_request"
    case unauthenticated
    case forbidden
    case notFound = "not_found"
    case tooLarge = "too_large"
    case rateLimited = "rate_limited"
    case conflict
    case unavailable
    case `internal`
    /// docs/protocol.md §6: the organization requires a registered client certificate and the
    /// connection presented none (or one that is not registered).
    case clientCertificateRequired = "client_certificate_required"
    /// docs/protocol.md §5: the session's token is bound to the client certificate it logged in
    /// with, and this connection did not present that certificate.
    case certificateRequired = "certificate_required"

    /// The HTTP status the JSON API answers with for this code.
    public var httpStatus: Int {
        switch self {
        case .badRequest: 400
        case .unauthenticated, .clientCertificateRequired, .certificateRequired: 401
        case .forbidden: 403
        case .notFound: 404
        case .tooLarge: 413
        case .rateLimited: 429
        case .conflict: 409
        case .unavailable: 503
        case .internal: 500
        }
    }
}

/// WebSocket close codes Tsunagu sends beyond RFC 6455's own (docs/protocol.md §1).
public enum TsunaguCloseCode {
    /// No valid `auth` within the auth timeout.
    public static let authTimeout: UInt16 = 4001
    /// The session was revoked (logout) or the account disabled.
    public static let sessionEnded: UInt16 = 4003
    /// The outbound queue overflowed: the client reads too slowly. Reconnect and resume with `since`.
    public static let slowConsumer: UInt16 = 4008
}
