import Synchronization

/// Counts the open connections of a listener, in total and per source address, and refuses a
/// connection beyond either cap, so that one client (or a crowd) runs the process out of
/// neither file descriptors nor memory (docs/security.md, "Slow and greedy clients").
///
/// Every admission must be given back exactly once when the connection ends; node and balancer
/// do it on the channel's close future.
public final class ConnectionGate: Sendable {
    public let maxConnections: Int
    public let maxPerSource: Int

    private struct Counts {
        var total = 0
        var bySource: [String: Int] = [:]
    }
    private let counts = Mutex(Counts())

    public init(maxConnections: Int, maxPerSource: Int) {
        self.maxConnections = max(1, maxConnections)
        self.maxPerSource = max(1, maxPerSource)
    }

    public enum Refusal: Error, Equatable, Sendable {
        /// The listener holds `maxConnections` already.
        case full
        /// This source address holds `maxPerSource` already.
        case sourceFull
    }

    /// Takes a place in the total; `nil` when admitted, to be given back with `release()`.
    public func admit() -> Refusal? {
        counts.withLock { counts in
            guard counts.total < maxConnections else { return .full }
            counts.total += 1
            return nil
        }
    }

    public func release() {
        counts.withLock { $0.total -= 1 }
    }

    /// Takes a place in `source`'s count; `nil` when admitted, to be given back with
    /// `release(source:)`. Separate from `admit()` because behind a trusted proxy the source is
    /// known only from the connection's first bytes (the PROXY header).
    public func admit(source: String) -> Refusal? {
        counts.withLock { counts in
            let held = counts.bySource[source, default: 0]
            guard held < maxPerSource else { return .sourceFull }
            counts.bySource[source] = held + 1
            return nil
        }
    }

    public func release(source: String) {
        counts.withLock { counts in
            let held = counts.bySource[source, default: 1] - 1
            counts.bySource[source] = held > 0 ? held : nil
        }
    }

    /// Open connections now, in total and from `source`.
    public func open(from source: String? = nil) -> Int {
        counts.withLock { counts in source.map { counts.bySource[$0, default: 0] } ?? counts.total }
    }

    /// The default `--max-connections`: the process's open-file limit (`RLIMIT_NOFILE`, soft)
    /// less headroom for the store, peer links, logs and the listener itself: a twentieth, and at
    /// least 512 descriptors. Beyond it the accept loop would fail on `EMFILE` and stall every
    /// connection instead of refusing the excess.
    public static func defaultMaxConnections(fileLimit: Int) -> Int {
        max(16, fileLimit - max(512, fileLimit / 20))
    }
}
