import Synchronization

/// The session authority's in-memory twin, for tests: tokens issued and revoked by hand.
public final class InMemorySessionAuthority<Session: Sendable>: SessionAuthority {
    private struct Entry {
        var session: Session
        var expiresAtMillis: Int64
        var certificate: [UInt8]?
    }

    private let sessions = Mutex<[String: Entry]>([:])
    private let clock: any WallClock

    public init(clock: any WallClock) { self.clock = clock }

    /// A token for `session`; with `certificate`, `auth` must present that fingerprint.
    public func issue(_ token: String, for session: Session, expiresAtMillis: Int64, certificate: [UInt8]? = nil) {
        sessions.withLock { $0[token] = Entry(session: session, expiresAtMillis: expiresAtMillis, certificate: certificate) }
    }

    public func revoke(_ token: String) { _ = sessions.withLock { $0.removeValue(forKey: token) } }

    public func authenticate(token: String, certificateFingerprint: [UInt8]?) throws -> Authentication<Session> {
        let now = clock.nowMillis
        return sessions.withLock { sessions in
            guard let entry = sessions[token], entry.expiresAtMillis > now else { return .unknownToken }
            if let required = entry.certificate, required != certificateFingerprint { return .clientCertificateRequired }
            return .live(entry.session, expiresAtMillis: entry.expiresAtMillis)
        }
    }
}
