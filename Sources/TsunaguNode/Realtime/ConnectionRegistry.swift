import Synchronization
import TsunaguCore
import TsunaguStore

/// The node's one registry of `/v1/ws` connections: every open connection (drain tells each to
/// reconnect), and, once authenticated, under its session (logout and disable end them, the
/// expiry sweep finds the expired ones). A connection enters at open, is bound to its session
/// when its `auth` succeeds, and leaves once, when its transport is gone
/// (`SessionStateMachine.Action.leaveRegistries`). Its subscriptions are its own, and the
/// fan-out index of them is the hub's.
final class ConnectionRegistry: Sendable {
    private struct SessionEntry {
        let expiresAtMillis: Int64
        var connections: [ObjectIdentifier: ClientSession] = [:]
    }

    private struct State {
        var connections: [ObjectIdentifier: ClientSession] = [:]
        var sessions: [SessionID: SessionEntry] = [:]
        /// Who waits for the registry to empty (a drain).
        var waitingForEmpty: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func add(_ connection: ClientSession) {
        state.withLock { $0.connections[ObjectIdentifier(connection)] = connection }
    }

    func bind(_ connection: ClientSession, to session: SessionRecord) {
        state.withLock { state in
            state.sessions[session.id, default: SessionEntry(expiresAtMillis: session.expiresAtMillis)]
                .connections[ObjectIdentifier(connection)] = connection
        }
    }

    func remove(_ connection: ClientSession, session: SessionID?) {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let id = ObjectIdentifier(connection)
            state.connections[id] = nil
            if let session {
                state.sessions[session]?.connections[id] = nil
                if state.sessions[session]?.connections.isEmpty == true { state.sessions[session] = nil }
            }
            guard state.connections.isEmpty else { return [] }
            defer { state.waitingForEmpty = [] }
            return state.waitingForEmpty
        }
        for continuation in waiting { continuation.resume() }
    }

    var count: Int { state.withLock { $0.connections.count } }
    var all: [ClientSession] { state.withLock { Array($0.connections.values) } }

    /// The sessions that have sockets on this node (`IdleSessionSweep`).
    func boundSessions() -> [SessionID] { state.withLock { Array($0.sessions.keys) } }

    /// The connections of a session, taken out of the session index (the session is over).
    func takeConnections(of session: SessionID) -> [ClientSession] {
        state.withLock { state in
            state.sessions.removeValue(forKey: session).map { Array($0.connections.values) } ?? []
        }
    }

    /// The connections of every session expired at `nowMillis`, taken out of the session index.
    /// One sweep a second for all connections instead of a timer per connection (a timer costs
    /// about 200 bytes for as long as the session lives, hours, on every idle connection).
    func takeExpired(nowMillis: Int64) -> [ClientSession] {
        state.withLock { state in
            var expired: [ClientSession] = []
            for (id, entry) in state.sessions where entry.expiresAtMillis <= nowMillis {
                expired.append(contentsOf: entry.connections.values)
                state.sessions[id] = nil
            }
            return expired
        }
    }

    /// Returns once no connection is left.
    func waitUntilEmpty() async {
        await withCheckedContinuation { continuation in
            let empty = state.withLock { state -> Bool in
                if state.connections.isEmpty { return true }
                state.waitingForEmpty.append(continuation)
                return false
            }
            if empty { continuation.resume() }
        }
    }
}
