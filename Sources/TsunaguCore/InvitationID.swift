/// A pending invitation of a user of another organization into a timeline
/// (`GET /v1/me/invitations`; docs/protocol.md §5).
public struct InvitationID: PrefixedID {
    public static let prefix = "iv_"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}
