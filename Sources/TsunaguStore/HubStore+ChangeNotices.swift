import Foundation

/// The store's change notifications (PostgreSQL LISTEN/NOTIFY; docs/cluster.md, "Which path
/// carries what"). Every write transaction that appends events sends one `pg_notify` naming the
/// timelines and seq ranges it committed (never content); any node can listen and learn that a
/// timeline moved even when the peer message that should have told it was lost. SQLite stores
/// have no such notifications: their nodes share one host and rely on peer messages and the
/// repair sweep.
extension HubStore {
    public var publishesChangeNotices: Bool {
        if case .postgres = backend { return true }
        return false
    }

    /// Listens until the calling task is cancelled (returns at once on SQLite). See
    /// `PostgresBackend.listenForChanges` for reconnection.
    public func listenForChanges(onConnected: @escaping @Sendable () -> Void,
                                 onChanges: @escaping @Sendable ([CommitNotice.Range]) -> Void) async {
        guard case .postgres(let postgres) = backend else { return }
        await postgres.listenForChanges(onConnected: onConnected, onChanges: onChanges)
    }
}
