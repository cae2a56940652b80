import Foundation
import GRDB
import TsunaguCore
import TsunaguCrypto

/// The reads a WebSocket connection makes while it sets up: each is one read transaction, so a
/// connection storm (thousands of clients resuming after a node loss) costs one trip to the
/// reader pool per `auth` and one per `subscribe`, not one per query.
extension HubStore {
    public enum ConnectionAuth: Sendable, Equatable {
        case live(SessionRecord)
        /// No live session has this token (unknown, revoked, expired, or its user disabled).
        case unknownToken
        /// The session is bound to a client certificate (it logged in where the organization
        /// requires one, white paper 5.17) and the connection presented none, another one, or
        /// one no longer registered; or the organization requires certificates and the session
        /// is bound to none.
        case clientCertificateRequired
    }

    /// `auth` on a WebSocket: the token's live session and the second-factor check in one read,
    /// on the calling thread. A node calls it on its event loop (or its request task): the read
    /// takes tens of microseconds, less than the thread hand-offs of GRDB's asynchronous form,
    /// which were a quarter of the CPU of a WebSocket connection setup. WAL readers never wait
    /// for writers.
    public func authenticateConnection(token: String, certificateFingerprint: [UInt8]?) throws -> ConnectionAuth {
        let hash = Data(OpaqueToken.hash(token))
        let now = Self.nowMillis()
        return try read { [self] db in
            try authenticate(db, tokenHash: hash, now: now, certificateFingerprint: certificateFingerprint)
        }
    }

    /// The same check for an HTTP request: every request with a token bound to a certificate
    /// must present that certificate (docs/security.md, "Second factor").
    public func authenticateRequest(token: String, certificateFingerprint: [UInt8]?) async throws -> ConnectionAuth {
        let hash = Data(OpaqueToken.hash(token))
        let now = Self.nowMillis()
        return try await read { [self] db in
            try authenticate(db, tokenHash: hash, now: now, certificateFingerprint: certificateFingerprint)
        }
    }

    private func authenticate(_ db: Database, tokenHash: Data, now: Int64, certificateFingerprint: [UInt8]?) throws
        -> ConnectionAuth
    {
        guard let session = try liveSession(db, tokenHash: tokenHash, now: now) else { return .unknownToken }
        if let bound = session.certificateFingerprint {
            guard let certificateFingerprint, certificateFingerprint == bound,
                try Self.isCertificateRegistered(db, user: session.user.id, fingerprint: bound)
            else { return .clientCertificateRequired }
        } else if try Self.requiresClientCertificate(db, session.user.organization) {
            // Switching the requirement on ends unbound sessions; one that slipped past (a login
            // that began before the switch) is refused here.
            return .clientCertificateRequired
        }
        return .live(session)
    }

    public typealias SubscriptionStart = (head: Int64, receipts: [ReadReceipt])

    /// `subscribe`: checks that the user may read the timeline and returns its head and read
    /// markers, from one snapshot, on the calling thread (as `authenticateConnection`).
    public func subscriptionStart(user: UserID, timeline: TimelineID) throws -> SubscriptionStart {
        try read { db in try Self.subscriptionStart(db, user: user, timeline: timeline) }
    }

    /// The same from async code, off the cooperative threads.
    public func subscriptionStart(user: UserID, timeline: TimelineID) async throws -> SubscriptionStart {
        try await read { db in try Self.subscriptionStart(db, user: user, timeline: timeline) }
    }

    private static func subscriptionStart(_ db: Database, user: UserID, timeline: TimelineID) throws -> SubscriptionStart {
        try authorize(db, user: user, timeline: timeline, .read)
        return (try head(db, timeline), try receipts(db, timeline))
    }
}
