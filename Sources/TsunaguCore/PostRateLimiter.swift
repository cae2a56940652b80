import Synchronization

/// A per-user token bucket for posts: `burst` posts at once, refilled evenly so that at most
/// `burst` more are accepted per `windowMillis` (default 20 per 10 s). A post beyond it is
/// answered `rate_limited` and not stored. One per node: a user posting through several nodes at
/// once gets a bucket on each (docs/security.md, "Post rate").
public final class PostRateLimiter: Sendable {
    public let burst: Int
    public let windowMillis: Int64

    private struct Bucket {
        var tokens: Double
        var atMillis: Int64
    }
    private let buckets = Mutex<[String: Bucket]>([:])

    /// `burst` 0: no limit.
    public init(burst: Int, windowMillis: Int64) {
        self.burst = max(0, burst)
        self.windowMillis = max(1, windowMillis)
    }

    /// Takes one post from `user`'s bucket at `nowMillis`; false when it is empty.
    public func allow(user: String, nowMillis: Int64) -> Bool {
        guard burst > 0 else { return true }
        let perMillis = Double(burst) / Double(windowMillis)
        return buckets.withLock { buckets in
            var bucket = buckets[user] ?? Bucket(tokens: Double(burst), atMillis: nowMillis)
            let elapsed = max(0, nowMillis - bucket.atMillis)
            bucket.tokens = min(Double(burst), bucket.tokens + Double(elapsed) * perMillis)
            bucket.atMillis = nowMillis
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[user] = bucket
            // A full bucket is the default: forget idle users so the table holds only recent posters.
            if buckets.count > 4096 { Self.forgetFull(&buckets, nowMillis: nowMillis, perMillis: perMillis, burst: burst) }
            return allowed
        }
    }

    private static func forgetFull(_ buckets: inout [String: Bucket], nowMillis: Int64, perMillis: Double, burst: Int) {
        buckets = buckets.filter { _, bucket in
            bucket.tokens + Double(max(0, nowMillis - bucket.atMillis)) * perMillis < Double(burst)
        }
    }
}
