import Logging
import TsunaguCore
import ServiceLifecycle
import TsunaguStore

/// Closes the sockets of sessions that went idle (docs/security.md, "Sessions"): the idle timeout
/// is checked wherever a token is used, but a socket that only receives uses nothing. Every
/// `interval` (30 s by default) the node asks the store which of the sessions it holds sockets
/// for are still live (one read per 500 sessions) and ends the rest (4003, as an expiry). This
/// also catches any revocation both other paths missed.
struct IdleSessionSweep: Service {
    let context: NodeContext
    let interval: Duration

    func run() async throws {
        let context = self.context
        try await Periodic.run(every: interval) { await Self.sweep(context) }
    }

    static func sweep(_ context: NodeContext) async {
        let held = context.connections.boundSessions()
        guard !held.isEmpty else { return }
        do {
            var live: Set<SessionID> = []
            for start in stride(from: 0, to: held.count, by: 500) {
                live.formUnion(try await context.store.liveSessions(among: Array(held[start..<min(start + 500, held.count)])))
            }
            for session in held where !live.contains(session) {
                for connection in context.connections.takeConnections(of: session) { connection.sessionEnded(.expired) }
            }
        } catch {
            context.logger.warning("idle sessions not checked", metadata: ["tsunagu.error": "\(error)"])
        }
    }
}
