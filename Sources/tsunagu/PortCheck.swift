import Foundation
import NIOCore
import NIOPosix

/// Checks that listening addresses are free before a command creates anything (a key, a store,
/// node processes), so a busy port is one line up front rather than a half-started hub.
enum PortCheck {
    /// Binds each port on `host` for a moment; a usage error naming `flag` for the first that is taken.
    static func ensureFree(host: String, ports: [Int], flag: String) async throws {
        for port in ports {
            let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            let channel: any Channel
            do {
                channel = try await bootstrap.bind(host: host, port: port).get()
            } catch {
                throw CLIError("\(flag): cannot listen on \(host):\(port) (\(oneLine(error))); is another hub running? choose another port")
            }
            try? await channel.close()
        }
    }
}
