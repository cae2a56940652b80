import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Builds the server upgrader shared by /v1/ws and the conformance echo so both run on exactly
/// the same stack.
public enum WebSocketServer {
    /// Creates the `NIOWebSocketServerUpgrader` for `configureHTTPServerPipeline(withServerUpgrade:)`.
    ///
    /// `route` is called once per upgrade request with the request head; return nil to refuse
    /// (404/403 is the HTTP layer's business: the upgrader then fails and NIO answers 400), or a
    /// delegate factory, called on the event loop once the connection is upgraded. The 101
    /// response carries the negotiated permessage-deflate header when the client offered it and
    /// `compression` is on.
    ///
    /// The HTTP handler that serves plain requests must be removed (or pass `WebSocketFrame`s on)
    /// in the upgrade completion handler: after the upgrade the pipeline carries frames.
    public static func makeUpgrader(
        limits: WebSocketLimits,
        compression: Bool,
        route: @escaping @Sendable (HTTPRequestHead, Channel) -> (() -> WebSocketMessageDelegate)?
    ) -> NIOWebSocketServerUpgrader {
        let routes = PendingRoutes()
        return NIOWebSocketServerUpgrader(
            maxFrameSize: limits.maxFrameBytes,
            // Protocol errors from the frame decoder reach WebSocketHandler.errorCaught, which
            // answers them through the same writer as everything else.
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                guard let factory = route(head, channel) else {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                routes.store(factory, for: channel)
                var headers = HTTPHeaders()
                if compression, let deflate = negotiate(head) {
                    headers.add(name: "Sec-WebSocket-Extensions", value: deflate.responseHeaderValue)
                }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, head in
                guard let factory = routes.take(for: channel) else {
                    return channel.eventLoop.makeFailedFuture(NIOWebSocketUpgradeError.unsupportedWebSocketTarget)
                }
                // Negotiation is a pure function of the request, so this repeats the answer the
                // 101 response carried.
                let deflate = compression ? negotiate(head) : nil
                return channel.eventLoop.makeCompletedFuture {
                    try install(on: channel, head: head, deflate: deflate, limits: limits, delegate: factory())
                }
            }
        )
    }

    private static func negotiate(_ head: HTTPRequestHead) -> PermessageDeflate? {
        let offers = head.headers["Sec-WebSocket-Extensions"]
        return offers.isEmpty ? nil : PermessageDeflate.negotiate(offers: offers)
    }

    /// Adds the message layer to an upgraded pipeline (on the channel's event loop).
    private static func install(
        on channel: Channel,
        head: HTTPRequestHead,
        deflate: PermessageDeflate?,
        limits: WebSocketLimits,
        delegate: WebSocketMessageDelegate
    ) throws {
        let high = Swift.max(1, limits.outboundHighWaterMark)
        try channel.syncOptions?.setOption(
            ChannelOptions.writeBufferWaterMark,
            value: .init(low: high / 2, high: high)
        )
        let pipeline = channel.pipeline.syncOperations
        let encoder = try pipeline.handler(type: WebSocketFrameEncoder.self)
        let writer = RawFrameWriter()
        try pipeline.addHandler(writer, position: .before(encoder))
        let connection = WebSocketConnection(channel: channel, requestHead: head, compression: deflate, limits: limits)
        try pipeline.addHandler(WebSocketHandler(connection: connection, delegate: delegate, writer: writer))
    }
}

/// Carries the delegate factory chosen in `shouldUpgrade` to `upgradePipelineHandler` of the same
/// channel, so `route` runs once per request.
private final class PendingRoutes: @unchecked Sendable {
    typealias Factory = () -> WebSocketMessageDelegate

    private let lock = NIOLock()
    // Protected by `lock`.
    private var factories: [ObjectIdentifier: Factory] = [:]

    func store(_ factory: @escaping Factory, for channel: Channel) {
        let key = ObjectIdentifier(channel)
        self.lock.withLock { self.factories[key] = factory }
        // An upgrade that fails after shouldUpgrade must not leak its entry.
        channel.closeFuture.whenComplete { _ in
            self.lock.withLock { _ = self.factories.removeValue(forKey: key) }
        }
    }

    func take(for channel: Channel) -> Factory? {
        let key = ObjectIdentifier(channel)
        return self.lock.withLock { self.factories.removeValue(forKey: key) }
    }
}
