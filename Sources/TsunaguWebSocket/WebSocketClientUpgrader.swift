import NIOCore
import NIOHTTP1

/// The client side of the upgrade, for NIO's HTTP client upgrade handler: it adds the
/// `ClientHandshake` headers to the request, judges the 101 response, and then installs a single
/// `WebSocketClientHandler` instead of NIO's frame decoder and encoder (the same choice the server
/// makes, see `FrameParser`).
///
/// It also holds the outcome of the connect: whichever of it and `ClientHandshakeHandler` learns
/// the result first completes `promise`. Confined to the channel's event loop.
final class WebSocketClientUpgrader<Connected: Sendable>: NIOHTTPClientProtocolUpgrader {
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []

    private let handshake: ClientHandshake
    private let promise: EventLoopPromise<Connected>
    /// Builds the connection on the upgraded channel (its handler is already in the pipeline).
    private let install: (any Channel, WebSocketClientHandler) throws -> Connected
    private let maxMessageBytes: Int
    private var negotiated: PermessageDeflate?
    private var done = false

    init(
        handshake: ClientHandshake,
        maxMessageBytes: Int,
        promise: EventLoopPromise<Connected>,
        install: @escaping (any Channel, WebSocketClientHandler) throws -> Connected
    ) {
        self.handshake = handshake
        self.maxMessageBytes = maxMessageBytes
        self.promise = promise
        self.install = install
    }

    func addCustom(upgradeRequestHeaders: inout HTTPHeaders) {
        self.handshake.addHeaders(to: &upgradeRequestHeaders)
    }

    /// NIO calls this with a 101 response whose `Upgrade` names websocket.
    func shouldAllowUpgrade(upgradeResponse: HTTPResponseHead) -> Bool {
        do {
            self.negotiated = try self.handshake.validate(upgradeResponse)
            return true
        } catch {
            // NIO then reports `upgraderDeniedUpgrade`; the precise reason is given here.
            self.fail(error)
            return false
        }
    }

    func upgrade(context: ChannelHandlerContext, upgradeResponse: HTTPResponseHead) -> EventLoopFuture<Void> {
        let channel = context.channel
        do {
            let handler = WebSocketClientHandler(compression: self.negotiated, maxMessageBytes: self.maxMessageBytes)
            try channel.pipeline.syncOperations.addHandler(handler)
            self.succeed(try self.install(channel, handler))
            return channel.eventLoop.makeSucceededVoidFuture()
        } catch {
            self.fail(error)
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    func succeed(_ connected: Connected) {
        guard !self.done else { return }
        self.done = true
        self.promise.succeed(connected)
    }

    func fail(_ error: any Error) {
        guard !self.done else { return }
        self.done = true
        self.promise.fail(error)
    }
}
