import Logging
import ServiceLifecycle
import Synchronization
import TsunaguCore
import TsunaguStore

/// The notices this node shows: loaded from the store every `interval` (operators add them with
/// `tsunagu notices add` / `incidents notify`, another process), pushed as a `notice` message to
/// the connected sessions they are for when they first appear, and sent to each connection right
/// after its `auth` succeeds. A connection that authenticates while a notice appears may receive
/// it twice: clients keep notices by `id`.
///
/// The auth path only reads the in-memory list (empty on most days): no store read is added to
/// a connection's setup.
final class NoticeBoard: Service, Sendable {
    private struct State {
        var notices: [Notice] = []
        var loaded = false
    }

    private let store: HubStore
    private let connections: ConnectionRegistry
    private let time: WireTime
    private let interval: Duration
    private let logger: Logger
    private let state = Mutex(State())

    init(store: HubStore, connections: ConnectionRegistry, time: WireTime, interval: Duration, logger: Logger) {
        self.store = store
        self.connections = connections
        self.time = time
        self.interval = interval
        self.logger = logger
    }

    func run() async throws {
        await refresh()
        try await Periodic.run(every: interval) { [self] in await refresh() }
    }

    /// The notices for this user, as last loaded.
    func current(for user: UserRecord) -> [Notice] {
        state.withLock { $0.notices }.filter { $0.isFor(user) }
    }

    /// The notices for this user, read from the store now (`GET /v1/notices`).
    func load(for user: UserRecord) async throws -> [Notice] {
        try await load().filter { $0.isFor(user) }
    }

    /// Reloads the list and pushes the notices that were not there before to the connected
    /// sessions they are for. The first load pushes nothing: connections get it at `auth`.
    func refresh() async {
        let notices: [Notice]
        do {
            notices = try await load()
        } catch {
            logger.warning("notices not loaded", metadata: ["tsunagu.error": "\(error)"])
            return
        }
        let fresh = state.withLock { state -> [Notice] in
            let known = Set(state.notices.map(\.id))
            defer {
                state.notices = notices
                state.loaded = true
            }
            return state.loaded ? notices.filter { !known.contains($0.id) } : []
        }
        guard !fresh.isEmpty else { return }
        for connection in connections.all {
            guard let user = connection.session?.user, !connection.isTransportClosed else { continue }
            for notice in fresh where notice.isFor(user) { connection.reply(notice.frame) }
        }
    }

    private func load() async throws -> [Notice] {
        let changes = try await store.changeNotices(nowMillis: WireTime.nowMillis())
        let incidents = try await store.notifiedOpenIncidents()
        return changes.map { Notice($0, time: time) } + incidents.map { Notice($0, time: time) }
    }
}
