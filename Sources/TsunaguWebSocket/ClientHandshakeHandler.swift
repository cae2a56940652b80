import NIOCore
import NIOHTTP1

/// The HTTP stage of a client connection: sends the upgrade request once connected and turns
/// anything but a completed upgrade (another status, an error, the connection ending) into the
/// connect's failure. Removed when the upgrade succeeds.
final class ClientHandshakeHandler<Connected: Sendable>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let upgrader: WebSocketClientUpgrader<Connected>

    init(head: HTTPRequestHead, upgrader: WebSocketClientUpgrader<Connected>) {
        self.head = head
        self.upgrader = upgrader
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(Self.wrapOutboundOut(.head(self.head)), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    /// Only a response that did not upgrade reaches this handler.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let response) = Self.unwrapInboundIn(data) {
            self.upgrader.fail(WebSocketClientError.handshakeFailed(status: Int(response.status.code)))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let upgradeError = error as? NIOHTTPClientUpgradeError {
            self.upgrader.fail(WebSocketClientError.invalidHandshake("upgrade refused: \(upgradeError)"))
        } else {
            self.upgrader.fail(error)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.upgrader.fail(WebSocketClientError.closed(code: nil, reason: "connection closed during the WebSocket handshake"))
        context.fireChannelInactive()
    }
}
