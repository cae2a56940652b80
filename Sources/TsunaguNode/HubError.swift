import TsunaguCore
import TsunaguStore

/// Failures of a request that are the client's to see, with the wire code they map to.
struct HubError: Error {
    var code: WireErrorCode
    var message: String

    static func unauthenticated(_ message: String = "a valid session token is required") -> HubError {
        HubError(code: .unauthenticated, message: message)
    }
    static func badRequest(_ message: String) -> HubError { HubError(code: .badRequest, message: message) }
    static func notFound(_ message: String) -> HubError { HubError(code: .notFound, message: message) }
    static let clientCertificateRequired = HubError(
        code: .clientCertificateRequired, message: "this organization requires a registered client certificate")
}

/// The one place that turns any error into a wire code and a message (STYLE.md). Unknown errors
/// become `internal` with a correlation id that is logged beside the real error, so the client's
/// message never carries internals, bodies or names.
enum WireFailure {
    static func describe(_ error: any Error, log: (String, any Error) -> Void) -> (code: WireErrorCode, message: String) {
        switch error {
        case let error as HubError:
            return (error.code, error.message)
        case let error as RequestError:
            return (error.code, error.message)
        case let error as StoreError:
            switch error {
            case .forbidden(let m): return (.forbidden, m)
            case .notFound(let m): return (.notFound, m)
            case .conflict(let m): return (.conflict, m)
            case .invalid(let m): return (.badRequest, m)
            case .masterKeyMismatch, .corrupt:
                return internalError(error, log: log)
            }
        case let error where StoreError.isUnavailable(error):
            return (.unavailable, "the store is unavailable; retry")
        default:
            return internalError(error, log: log)
        }
    }

    private static func internalError(_ error: any Error, log: (String, any Error) -> Void) -> (code: WireErrorCode, message: String) {
        let correlation = "c_" + TimelineID.random().rawValue.dropFirst(3).prefix(12)
        log(correlation, error)
        return (.internal, "internal error (correlation id \(correlation))")
    }
}
