import NIOCore

/// How a node turns away a connection beyond `--max-connections` or
/// `--max-connections-per-source`, before reading anything from it: on a plaintext listener an
/// HTTP 503 with `Retry-After` (a client or load balancer knows to come back), then close; on a
/// TLS listener, where no plaintext answer could be read, a plain close.
enum ConnectionRefusal {
    static let retryAfterSeconds = 5

    static let response: [UInt8] = {
        let body = #"{"code":"unavailable","message":"too many connections; retry later"}"#
        return Array(("HTTP/1.1 503 Service Unavailable\r\nRetry-After: \(retryAfterSeconds)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
            + body).utf8)
    }()

    /// On an active channel: answers (plaintext only) and closes.
    static func refuse(_ channel: any Channel, plaintext: Bool) {
        guard plaintext else { return channel.close(promise: nil) }
        channel.writeAndFlush(ByteBuffer(bytes: response)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Refuses a connection as soon as it is active (the accept-time caps are decided before the
/// channel is registered, when nothing can be written yet).
final class RefuseOnActiveHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let plaintext: Bool

    init(plaintext: Bool) { self.plaintext = plaintext }

    func channelActive(context: ChannelHandlerContext) {
        ConnectionRefusal.refuse(context.channel, plaintext: plaintext)
    }

    /// Nothing a refused client sends is read.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
