import Foundation
import Logging

/// Ids that tie log lines to one HTTP request or one WebSocket connection (docs/operations.md,
/// "Logs"). They are task-local: the code that handles a request or a connection runs inside
/// `withValue`, and every line logged from it — by any logger — carries the id through the
/// metadata provider the executable installs. Ids are random and short; they never encode a
/// user, a session or a token.
public enum LogContext {
    @TaskLocal public static var request: String?
    @TaskLocal public static var connection: String?

    /// Adds `request_id` / `connection_id` to every line logged inside a request or connection.
    public static let metadataProvider = Logger.MetadataProvider {
        var metadata: Logger.Metadata = [:]
        if let request { metadata["request_id"] = .string(request) }
        if let connection { metadata["connection_id"] = .string(connection) }
        return metadata
    }

    /// A fresh id: 12 hex digits.
    public static func newID() -> String {
        String(UInt64.random(in: 0..<(1 << 48)), radix: 16).leftPadded(to: 12)
    }
}

private extension String {
    func leftPadded(to length: Int) -> String { count >= length ? self : String(repeating: "0", count: length - count) + self }
}
