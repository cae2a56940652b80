import Foundation
import GRDB
import TsunaguCore
import TsunaguCrypto

/// How many unauthenticated requests of one kind (asking for an activation link, completing one)
/// an e-mail address and a source address may make per window.
public struct RequestThrottlePolicy: Sendable {
    /// Requests naming one e-mail address (known or not) per window.
    public var perAddress = 3
    /// Requests from one client address per window.
    public var perSource = 20
    public var windowMillis: Int64 = 15 * 60_000

    public init(perAddress: Int = 3, perSource: Int = 20, windowMillis: Int64 = 15 * 60_000) {
        self.perAddress = perAddress
        self.perSource = perSource
        self.windowMillis = windowMillis
    }
}

/// Throttling of unauthenticated requests that cost the hub work (a mail sent, an scrypt run),
/// shared by every node: it lives in the store, in the login throttle's table (`login_failures`)
/// under keys of their own. Keys are HMACs of the kind with the normalized address or the source,
/// so unknown addresses are counted exactly like known ones and nothing is kept in clear.
extension HubStore {
    /// Counts one request of `kind` for `email` from `source`, in one write transaction, unless
    /// either has used its allowance this window: then nothing is counted and the answer is the
    /// instant the window ends (milliseconds since 1970). Nil: the request may proceed.
    public func reserveRequest(kind: String, email: String?, source: String?, policy: RequestThrottlePolicy)
        async throws -> Int64?
    {
        var keys: [(key: Data, limit: Int)] = []
        if let email {
            keys.append((Data(blindIndex.index(email: "\(kind):account:" + BlindIndex.normalize(email: email))),
                         policy.perAddress))
        }
        if let source { keys.append((Data(blindIndex.index(email: "\(kind):source:" + source)), policy.perSource)) }
        let now = Self.nowMillis()
        let limits = keys
        return try await writeImmediate { db -> Int64? in
            // Counters read and written back: in turn on PostgreSQL, as login reservations are.
            try db.dialect.serialize(db, .loginThrottle)
            var counts: [(count: Int, start: Int64)] = []
            for (key, limit) in limits {
                let row = try Row.fetchOne(db, sql: "SELECT failures, window_start FROM login_failures WHERE key = ?",
                                           arguments: [key])
                if let row, now - (row["window_start"] as Int64) < policy.windowMillis {
                    let count: Int = row["failures"]
                    if count >= limit { return (row["window_start"] as Int64) + policy.windowMillis }
                    counts.append((count, row["window_start"]))
                } else {
                    counts.append((0, now))
                }
            }
            for (index, (key, _)) in limits.enumerated() {
                try db.execute(sql: """
                    INSERT INTO login_failures (key, failures, window_start, locked_until, in_flight) VALUES (?, ?, ?, 0, 0)
                    ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start
                    """, arguments: [key, counts[index].count + 1, counts[index].start])
            }
            return nil
        }
    }

    /// The e-mail address of the account an activation link belongs to, if the link can still be
    /// used: a read, so that a request with an unknown, used or expired link is answered before
    /// any password is hashed. Throws what `completeActivation` would: `notFound`, `conflict`,
    /// `invalid`.
    public func usableActivationLink(token: String) async throws -> String {
        let hash = Data(OpaqueToken.hash(token))
        let now = Self.nowMillis()
        return try await read { [self] db in
            guard let link = try Row.fetchOne(db, sql: """
                SELECT l.used_at, l.expires_at, l.user_id, u.email FROM activation_links l JOIN users u ON u.id = l.user_id
                WHERE l.token_hash = ?
                """, arguments: [hash]) else {
                throw StoreError.notFound("no such activation link")
            }
            if (link["used_at"] as Int64?) != nil { throw StoreError.conflict("the activation link was already used") }
            if (link["expires_at"] as Int64) < now { throw StoreError.invalid("the activation link has expired; ask for a new one") }
            return try open(link["email"], table: "users", column: "email", row: link["user_id"])
        }
    }
}
