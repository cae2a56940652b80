import ServiceLifecycle
import TsunaguRealtime

/// Closes the sockets of sessions that expired: a session that expires ends its sockets too, not
/// only its next request. One sweep a second over the connection registry.
struct SessionExpirySweep: Service {
    let connections: ConnectionRegistry
    let clock: any WallClock

    func run() async throws {
        let connections = self.connections, clock = self.clock
        try await Periodic.run(every: .seconds(1)) {
            for connection in connections.takeExpired(nowMillis: clock.nowMillis) { connection.sessionEnded(.expired) }
        }
    }
}
