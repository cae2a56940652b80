import GRDB
import PostgresNIO
import TsunaguCore

/// The store's one error type. Messages name what failed, never a value a person typed.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The master key does not open the store's data keys (a wrong key file, or another store's).
    case masterKeyMismatch
    /// The role does not allow the action, or the user is not a member (also for timelines that do
    /// not exist, so that a non-member learns nothing of a timeline).
    case forbidden(String)
    case notFound(String)
    case conflict(String)
    case invalid(String)
    /// A stored value failed to decrypt or parse: tampering or corruption. Never the cleartext.
    case corrupt(String)

    public var description: String {
        switch self {
        case .masterKeyMismatch: "the master key does not open this store's data keys"
        case .forbidden(let m), .notFound(let m), .conflict(let m), .invalid(let m): m
        case .corrupt(let m): "stored data failed its integrity check: \(m)"
        }
    }
}

extension StoreError {
    /// True when `error` means the database cannot be reached or written right now (locked past the
    /// busy timeout, I/O failure, disk full), as opposed to a bug: the wire answer is `unavailable`,
    /// and the client retries, elsewhere if it likes.
    public static func isUnavailable(_ error: any Error) -> Bool {
        if let error = error as? PSQLError { return isUnavailable(postgres: error) }
        if error is PostgresUnreachable { return true }
        guard let error = error as? DatabaseError else { return false }
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_CANTOPEN, .SQLITE_READONLY:
            return true
        default:
            return false
        }
    }
}

extension StoreError {
    /// PostgreSQL cannot be reached or refuses work for now: no connection (refused, closed,
    /// reset: PostgreSQL restarting), or a server error of the classes "connection exception"
    /// (08), "insufficient resources" (53), "operator intervention" (57: shutting down), or a
    /// deadlock/serialization failure that outlasted the committer's retries (40).
    static func isUnavailable(postgres error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return true }
        return ["08", "53", "57", "40"].contains(String(state.prefix(2)))
    }

    /// A PostgreSQL deadlock or serialization failure: the transaction was aborted and running it
    /// again may succeed.
    static func isRetryable(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }
}
