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
        return try await read { db in
            let marks = Array(repeating: "?", count: keys.count).joined(separator: ",")
            let until = try Int64.fetchOne(db, sql: "SELECT MAX(locked_until) FROM login_failures WHERE key IN (\(marks))",
                                           arguments: SQLArguments(keys)) ?? 0
            return until > now ? until : nil
        }
    }

    /// Reserves one password check for this address from this source, before it runs: in one
    /// write transaction, refused while the address or the source is locked, otherwise counted
    /// as a failure in advance (and the reservation that reaches the policy's limit sets the
    /// lock). However many requests arrive at once, on however many nodes share the store, at
    /// most `accountFailures` checks run per address per window between successful logins.
    /// Every `.reserved` answer must be followed by `loginFailed` or `loginSucceeded`.
    /// `lockEntry`: the audit entry of a lock; the reservation that sets the lock appends it in
    /// the same transaction, naming the address's user and organization if it has one, so that
    /// no lock is set unrecorded (docs/security.md, "Audit log").
    public func reserveLoginAttempt(email: String, source: String?, policy: LoginThrottlePolicy,
                                    lockEntry: AuditRecord? = nil) async throws -> LoginReservation
    {
        let keys = throttleKeys(email: email, source: source)
        let emailIndex = index(email: email)
        let now = Self.nowMillis()
        return try await writeImmediate { [self] db in
            // Read, then written back: on PostgreSQL reservations on every node take turns.
            try db.dialect.serialize(db, .loginThrottle)
            var rows: [(failures: Int, start: Int64, inFlight: Int)] = []
            for key in keys {
                let row = try Row.fetchOne(db, sql: """
                    SELECT failures, window_start, locked_until, in_flight FROM login_failures WHERE key = ?
                    """, arguments: [key])
                if let row, (row["locked_until"] as Int64) > now { return .locked(until: row["locked_until"]) }
                if let row, now - (row["window_start"] as Int64) < policy.windowMillis {
                    rows.append((row["failures"], row["window_start"], row["in_flight"]))
                } else {
                    rows.append((0, now, 0))
                }
            }
            var locks = false
            for (index, key) in keys.enumerated() {
                let limit = index == 0 ? policy.accountFailures : policy.sourceFailures
                let failures = rows[index].failures + 1
                let lockedUntil = failures >= limit ? now + policy.lockoutMillis : 0
                if lockedUntil > 0 { locks = true }
                try db.execute(sql: """
                    INSERT INTO login_failures (key, failures, window_start, locked_until, in_flight) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start,
                      locked_until = excluded.locked_until, in_flight = excluded.in_flight
                    """, arguments: [key, failures, rows[index].start, lockedUntil, rows[index].inFlight + 1])
            }
            if locks, var entry = lockEntry {
                if let user = try Row.fetchOne(db, sql: "SELECT id, org_id FROM users WHERE email_index = ?",
                                               arguments: [emailIndex]) {
                    entry.organization = OrganizationID(unchecked: user["org_id"])
                    entry.target = user["id"]
                }
                try appendAudit(db, entry, at: now)
            }
            return .reserved(locks: locks)
        }
    }

    /// The reserved check failed: it stays counted; only the reservation ends.
    public func loginFailed(email: String, source: String?) async throws {
        let keys = throttleKeys(email: email, source: source)
        try await writeImmediate { db in
            try db.dialect.serialize(db, .loginThrottle)
            for key in keys {
                try db.execute(sql: Self.endReservation, arguments: [key])
            }
        }
    }

    /// The reserved check passed: the address's failures are cleared (and its lock, if this
    /// reservation set it), except the checks still in flight, which stay counted until they
    /// end. The source's count is kept: one right password must not unlock a guessing source.
    public func loginSucceeded(email: String, source: String?) async throws {
        let keys = throttleKeys(email: email, source: source)
        try await writeImmediate { db in
            try db.dialect.serialize(db, .loginThrottle)
            try db.execute(sql: Self.endReservation, arguments: [keys[0]])
            try db.execute(sql: "UPDATE login_failures SET failures = in_flight, locked_until = 0 WHERE key = ?",
                           arguments: [keys[0]])
            try db.execute(sql: "DELETE FROM login_failures WHERE key = ? AND in_flight = 0", arguments: [keys[0]])
            for key in keys.dropFirst() {
                try db.execute(sql: Self.endReservation, arguments: [key])
            }
        }
    }

    private static let endReservation =
        "UPDATE login_failures SET in_flight = CASE WHEN in_flight > 0 THEN in_flight - 1 ELSE 0 END WHERE key = ?"
}

/// The answer of `HubStore.reserveLoginAttempt`.
public enum LoginReservation: Sendable, Equatable {
    /// The check may run; `locks`: this reservation reached the limit and set the lock.
    case reserved(locks: Bool)
    /// Refused without a check until this instant (milliseconds since 1970).
    case locked(until: Int64)
}
