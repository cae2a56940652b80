import Logging
import Synchronization
import TsunaguCore
import TsunaguRealtime
import TsunaguStore

/// Keeps sessions' `last_seen_at` current for the idle timeout (docs/security.md, "Sessions")
/// without a store write per request: a session used again within a minute of its last recorded
/// use is not written. An HTTP request and every WebSocket request after `auth` count as use.
final class SessionActivity: Sendable {
    /// The idle timeout is counted in minutes: a write a minute per session is precise enough.
    static let touchEveryMillis: Int64 = 60_000
    /// Entries kept before old ones are dropped (a session not seen within a minute needs none).
    private static let pruneAbove = 50_000

    private let store: HubStore
    private let clock: any WallClock
    private let logger: Logger
    /// When this node last wrote each session's `last_seen_at`.
    private let written = Mutex<[SessionID: Int64]>([:])

    init(store: HubStore, clock: any WallClock, logger: Logger) {
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    func used(_ session: SessionRecord) {
        let now = clock.nowMillis
        let due = written.withLock { written -> Bool in
            let last = max(written[session.id] ?? 0, session.lastSeenMillis)
            guard now - last >= Self.touchEveryMillis else { return false }
            written[session.id] = now
            if written.count > Self.pruneAbove {
                written = written.filter { now - $0.value < Self.touchEveryMillis }
            }
            return true
        }
        guard due else { return }
        let store = self.store, logger = self.logger
        Task {
            do {
                try await store.touchSession(session.id, at: now)
            } catch {
                logger.warning("session activity not recorded", metadata: ["tsunagu.error": "\(error)"])
            }
        }
    }
}
