import Foundation
import GRDB
import TsunaguCore
import TsunaguCrypto

/// How many failed logins lock what, for how long.
public struct LoginThrottlePolicy: Sendable {
    public var accountFailures = 5
    public var sourceFailures = 20
    public var windowMillis: Int64 = 15 * 60_000
    public var lockoutMillis: Int64 = 15 * 60_000
    public init() {}
}

/// Failed-login throttling shared by every node (it lives in the store). Keys are HMACs of the
/// normalized address and of the source address, so unknown addresses are counted exactly like
/// known ones (a lockout reveals nothing about which accounts exist) and nothing is in clear.
extension HubStore {
    private func throttleKeys(email: String, source: String?) -> [Data] {
        var keys = [Data(blindIndex.index(email: "account:" + BlindIndex.normalize(email: email)))]
        if let source { keys.append(Data(blindIndex.index(email: "source:" + source))) }
        return keys
    }

    /// The instant until which logins for this address or from this source are refused, if any.
    public func loginLockedUntil(email: String, source: String?) async throws -> Int64? {
        let keys = throttleKeys(email: email, source: source)
        let now = Self.nowMillis()
        return try await pool.read { db in
            let marks = Array(repeating: "?", count: keys.count).joined(separator: ",")
            let until = try Int64.fetchOne(db, sql: "SELECT MAX(locked_until) FROM login_failures WHERE key IN (\(marks))",
                                           arguments: StatementArguments(keys)) ?? 0
            return until > now ? until : nil
        }
    }

    /// Counts a failure; returns true when it locked the address or the source.
    @discardableResult
    public func recordLoginFailure(email: String, source: String?, policy: LoginThrottlePolicy) async throws -> Bool {
        let keys = throttleKeys(email: email, source: source)
        let now = Self.nowMillis()
        return try await writeImmediate { db in
            var locked = false
            for (index, key) in keys.enumerated() {
                let limit = index == 0 ? policy.accountFailures : policy.sourceFailures
                let row = try Row.fetchOne(db, sql: "SELECT failures, window_start FROM login_failures WHERE key = ?",
                                           arguments: [key])
                var failures = 1
                var start = now
                if let row, now - (row["window_start"] as Int64) < policy.windowMillis {
                    failures = (row["failures"] as Int) + 1
                    start = row["window_start"]
                }
                let lockedUntil = failures >= limit ? now + policy.lockoutMillis : 0
                if lockedUntil > 0 { locked = true }
                try db.execute(sql: """
                    INSERT INTO login_failures (key, failures, window_start, locked_until) VALUES (?, ?, ?, ?)
                    ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start,
                      locked_until = MAX(login_failures.locked_until, excluded.locked_until)
                    """, arguments: [key, failures, start, lockedUntil])
            }
            return locked
        }
    }

    /// A successful login clears the address's count (not the source's).
    public func clearLoginFailures(email: String) async throws {
        let key = throttleKeys(email: email, source: nil)[0]
        try await writeImmediate { db in
            try db.execute(sql: "DELETE FROM login_failures WHERE key = ?", arguments: [key])
        }
    }
}
