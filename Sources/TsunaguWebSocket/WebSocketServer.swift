import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Builds the server upgrader shared by /v1/ws and the conformance echo so both run on exactly
/// the same stack.
public enum WebSocketServer {
    /// A delegate factory for an accepted upgrade, called on the event loop once the connection
    /// is upgraded.
    public typealias Route = () -> WebSocketMessageDelegate

    /// Creates the upgrader for `configureHTTPServerPipeline(withServerUpgrade:)`.
    ///
    /// `route` decides from the request head whether to accept: nil refuses (the upgrade fails and
    /// NIO answers 400). It is called when the 101 response is built and again when the pipeline
    /// is switched over, so it must be a pure function of the request. The 101 response carries
    /// the negotiated permessage-deflate header when the client offered it and `compression` is on.
    ///
    /// The HTTP handler that serves plain requests must be removed in the upgrade completion
    /// handler: after the upgrade the pipeline carries WebSocket bytes.
    public static func makeUpgrader(
        limits: WebSocketLimits,
        compression: Bool,
        route: @escaping @Sendable (HTTPRequestHead, Channel) -> Route?
    ) -> WebSocketServerUpgrader {
        WebSocketServerUpgrader(limits: limits, compression: compression, route: route)
    }
}

/// The server side of the RFC 6455 §4.2 opening handshake, for NIO's HTTP upgrade handler.
///
/// It answers like NIO's `NIOWebSocketServerUpgrader` (same header checks and errors) but then
/// installs a single `WebSocketHandler` instead of NIO's frame decoder and encoder handlers: one
/// handler per connection is what keeps an idle connection small (see `FrameParser`).
public struct WebSocketServerUpgrader: HTTPServerProtocolUpgrader, Sendable {
    public let supportedProtocol = "websocket"
    /// Headers that must be named in `Connection:`; none for WebSocket (the key and version are
    /// checked in `buildUpgradeResponse`).
    public let requiredUpgradeHeaders: [String] = []

    private let limits: WebSocketLimits
    private let compression: Bool
    private let route: @Sendable (HTTPRequestHead, Channel) -> WebSocketServer.Route?

    init(
        limits: WebSocketLimits,
        compression: Bool,
        route: @escaping @Sendable (HTTPRequestHead, Channel) -> WebSocketServer.Route?
    ) {
        self.limits = limits
        self.compression = compression
        self.route = route
    }

    public func buildUpgradeResponse(
        channel: Channel,
        upgradeRequest: HTTPRequestHead,
        initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        channel.eventLoop.makeCompletedFuture {
            // §4.2.1: exactly one key and version 13.
            let keys = upgradeRequest.headers[canonicalForm: "Sec-WebSocket-Key"]
            let versions = upgradeRequest.headers[canonicalForm: "Sec-WebSocket-Version"]
            guard keys.count == 1, versions.count == 1, versions[0] == "13" else {
                throw NIOWebSocketUpgradeError.invalidUpgradeHeader
            }
            guard self.route(upgradeRequest, channel) != nil else {
                throw NIOWebSocketUpgradeError.unsupportedWebSocketTarget
            }
            var headers = initialResponseHeaders
            if let deflate = self.negotiate(upgradeRequest) {
                headers.add(name: "Sec-WebSocket-Extensions", value: deflate.responseHeaderValue)
            }
            let accept = WebSocketAccept.value(forKey: keys[0])
            headers.replaceOrAdd(name: "Upgrade", value: "websocket")
            headers.add(name: "Sec-WebSocket-Accept", value: accept)
            headers.replaceOrAdd(name: "Connection", value: "upgrade")
            return headers
        }
    }

    public func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        let channel = context.channel
        return channel.eventLoop.makeCompletedFuture {
            guard let delegate = self.route(upgradeRequest, channel) else {
                throw NIOWebSocketUpgradeError.unsupportedWebSocketTarget
            }
            let high = Swift.max(1, self.limits.outboundHighWaterMark)
            try channel.syncOptions?.setOption(ChannelOptions.writeBufferWaterMark, value: .init(low: high / 2, high: high))
            // Negotiation is a pure function of the request, so this repeats the answer the 101
            // response carried.
            let connection = WebSocketConnection(
                channel: channel, requestHead: upgradeRequest, compression: self.negotiate(upgradeRequest), limits: self.limits)
            try channel.pipeline.syncOperations.addHandler(WebSocketHandler(connection: connection, delegate: delegate()))
        }
    }

    private func negotiate(_ head: HTTPRequestHead) -> PermessageDeflate? {
        guard self.compression else { return nil }
        let offers = head.headers["Sec-WebSocket-Extensions"]
        return offers.isEmpty ? nil : PermessageDeflate.negotiate(offers: offers)
    }
}
