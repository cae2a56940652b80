import NIOCore
import NIOHTTP1
import NIOWebSocket
import TsunaguWebSocket
import TsunaguCore

/// The HTTP/1.1 + WebSocket-upgrade handlers of one connection: NIO's HTTP codec with the
/// WebSocket upgrader, then the JSON API handler (removed once a connection upgrades).
struct HTTPPipeline: Sendable {
    let upgrader: WebSocketServerUpgrader
    let router: APIRouter
    let maxBody: Int
    let failure: @Sendable (any Error, String) -> (code: WireErrorCode, message: String)

    /// `source`: the client's address from a trusted proxy's PROXY header; nil: the socket's.
    func configure(_ channel: any Channel, source: String? = nil) throws {
        let sync = channel.pipeline.syncOperations
        let api = HTTPAPIHandler(router: router, maxBodyBytes: maxBody, source: source, failure: failure)
        try sync.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in
                channel.pipeline.removeHandler(name: HTTPAPIHandler.name, promise: nil)
            }),
            withErrorHandling: true)
        try sync.addHandler(api, name: HTTPAPIHandler.name)
    }
}
