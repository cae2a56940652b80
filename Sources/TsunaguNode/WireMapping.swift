import NIOWebSocket
import TsunaguCore
import TsunaguRealtime
import TsunaguStore

/// The one place that turns what went wrong into what the client sees: any error into a wire
/// error code and message, and any connection ending into a Close frame's code and reason.
/// Unknown errors become `internal` with a correlation id that is logged beside the real error,
/// so the client's message never carries internals, bodies or names.
enum WireMapping {
    static func failure(_ error: any Error, log: (String, any Error) -> Void) -> (code: WireErrorCode, message: String) {
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

    /// The Close frame for an ending (its code is the core's, `ConnectionEnding.closeCode`).
    static func close(_ ending: ConnectionEnding) -> (code: WebSocketErrorCode, reason: String) {
        (WebSocketErrorCode(codeNumber: Int(ending.closeCode)), ending.reason)
    }

    private static func internalError(_ error: any Error, log: (String, any Error) -> Void) -> (code: WireErrorCode, message: String) {
        let correlation = "c_" + TimelineID.random().rawValue.dropFirst(3).prefix(12)
        log(correlation, error)
        return (.internal, "internal error (correlation id \(correlation))")
    }
}
