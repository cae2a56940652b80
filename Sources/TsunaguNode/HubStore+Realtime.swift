import Foundation
import TsunaguCore
import TsunaguRealtime
import TsunaguStore

// The store behind the realtime core's interfaces. The PostgreSQL store will stand behind the
// same ones.

extension HubStore: EventLog {}

extension HubStore: NodeRegistry {}

extension HubStore: SessionAuthority {
    public func authenticate(token: String, certificateFingerprint: [UInt8]?) throws -> Authentication<SessionRecord> {
        switch try authenticateConnection(token: token, certificateFingerprint: certificateFingerprint) {
        case .live(let session): .live(session, expiresAtMillis: session.expiresAtMillis)
        case .unknownToken: .unknownToken
        case .clientCertificateRequired: .clientCertificateRequired
        }
    }
}
