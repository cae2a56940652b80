import TsunaguCore

/// The node's own failures of a request, the client's to see: the rules the node itself checks
/// (sessions, subscriptions, the API's inputs). The store's rules throw `StoreError`;
/// `WireMapping` turns either into a wire code.
struct HubError: Error {
    var code: WireErrorCode
    var message: String

    static func unauthenticated(_ message: String = "a valid session token is required") -> HubError {
        HubError(code: .unauthenticated, message: message)
    }
    static func badRequest(_ message: String) -> HubError { HubError(code: .badRequest, message: message) }
    static func notFound(_ message: String) -> HubError { HubError(code: .notFound, message: message) }
    static func forbidden(_ message: String) -> HubError { HubError(code: .forbidden, message: message) }
    static func conflict(_ message: String) -> HubError { HubError(code: .conflict, message: message) }
    static let notAMember = forbidden("not a member of this timeline")
    static let clientCertificateRequired = HubError(
        code: .clientCertificateRequired, message: "this organization requires a registered client certificate")
    static let certificateRequired = HubError(
        code: .certificateRequired, message: "this session requires the client certificate it logged in with")
}
