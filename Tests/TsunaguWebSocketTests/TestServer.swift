import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import TsunaguWebSocket

/// A NIO server on 127.0.0.1 (ephemeral port) mounting `WebSocketServer.makeUpgrader` the way the
/// node does: `configureHTTPServerPipeline(withServerUpgrade:)`, plus a plain HTTP handler that
/// answers 404 to anything that is not upgraded and is removed once the upgrade completes.
final class TestServer: Sendable {
    let channel: Channel
    var port: Int { self.channel.localAddress!.port! }

    /// `delegates` maps a request path to the delegate factory serving it.
    init(
        limits: WebSocketLimits,
        compression: Bool,
        delegates: @escaping @Sendable (String) -> (() -> WebSocketMessageDelegate)?
    ) async throws {
        let upgrader = WebSocketServer.makeUpgrader(limits: limits, compression: compression) { head, _ in
            delegates(String(head.uri.split(separator: "?", maxSplits: 1).first ?? ""))
        }
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let notFound = NotFoundHandler()
                return channel.pipeline.configureHTTPServerPipeline(
                    withServerUpgrade: (
                        upgraders: [upgrader],
                        completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(notFound, promise: nil)
                        }
                    )
                ).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(notFound)
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
    }

    func shutdown() async throws {
        try await self.channel.close()
    }

    /// Default echo server for the live tests: `/v1/ws` (text-only) and `/v1/echo` (binary allowed).
    static func echo(limits: WebSocketLimits = WebSocketLimits(), compression: Bool = true) async throws -> TestServer {
        try await TestServer(limits: limits, compression: compression) { path in
            path == "/v1/ws" || path == "/v1/echo" ? { WebSocketEchoDelegate() } : nil
        }
    }
}

/// Answers 404 to requests that were not upgraded.
final class NotFoundHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = Self.unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "Connection", value: "close")
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .notFound, headers: headers))), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
