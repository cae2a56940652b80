extension MailDeliveryWorker {
    /// The first retry waits this long.
    public static let backoffBase: Duration = .seconds(5)
    /// No retry waits longer than this.
    public static let backoffCap: Duration = .seconds(3600)

    /// The delay before the next attempt after `attempt` failed attempts (1 = the first failure):
    /// 5 s × 2^(attempt−1), at most 1 h, each with ±20 % jitter (still never above 1 h).
    ///
    /// The jitter keeps a burst of mail queued during a relay outage from hitting the relay in
    /// one wave when it returns. With the defaults 20 attempts span about 12 hours.
    public static func backoff(attempt: Int) -> Duration {
        self.backoff(attempt: attempt, jitter: Double.random(in: -1...1))
    }

    /// `backoff(attempt:)` with the jitter given: −1 is −20 %, 0 the nominal delay, 1 is +20 %.
    static func backoff(attempt: Int, jitter: Double) -> Duration {
        let base = self.backoffBase.timeInterval
        let cap = self.backoffCap.timeInterval
        // 2^12 × 5 s already exceeds the cap; clamping the exponent avoids overflow for any attempt.
        let exponent = min(max(attempt, 1) - 1, 12)
        let nominal = min(base * Double(1 << exponent), cap)
        let jittered = nominal * (1 + 0.2 * min(max(jitter, -1), 1))
        let seconds = min(jittered, cap)
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
