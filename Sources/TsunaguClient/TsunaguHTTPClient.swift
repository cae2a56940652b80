import NIOCore
import NIOHTTP1
import NIOPosix

/// A tiny HTTP/1.1 client on NIO for the JSON API: one request per connection (`Connection: close`).
public struct TsunaguHTTPClient: Sendable {
    public var host: String
    public var port: Int
    public var group: any EventLoopGroup
    /// Applies to the whole exchange, connect to last body byte.
    public var timeout: Duration = .seconds(30)
    /// Largest response body accepted.
    public var maxBodyBytes = 64 << 20

    public init(host: String, port: Int, group: any EventLoopGroup) {
        self.host = host
        self.port = port
        self.group = group
    }

    /// Sends one request. `json` becomes the body (`Content-Type: application/json`); `token` becomes
    /// `Authorization: Bearer …`. Any status is returned, not thrown.
    public func send(_ method: String, _ path: String, json: JSONObject? = nil, token: String? = nil,
                     headers: [(String, String)] = []) async throws -> HTTPReply {
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
        head.headers.add(name: "Host", value: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Accept", value: "application/json")
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(string: JSONValue.object(json).serialized())
            head.headers.add(name: "Content-Type", value: "application/json")
        }
        head.headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0))
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { head.headers.replaceOrAdd(name: name, value: value) }

        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: HTTPReply.self)
        let maxBodyBytes = self.maxBodyBytes
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(TimeAmount(timeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            ResponseCollector(promise: promise, maxBodyBytes: maxBodyBytes))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            promise.fail(error)  // never leave a promise unfulfilled
            throw error
        }
        let timeoutTask = eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            promise.fail(TsunaguClientError.timeout)
            channel.close(promise: nil)
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer {
            timeoutTask.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<HTTPReply>
    private let maxBodyBytes: Int
    private var reply: HTTPReply?

    init(promise: EventLoopPromise<HTTPReply>, maxBodyBytes: Int) {
        self.promise = promise
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            // 1xx interim responses (100 Continue) are not the answer.
            if head.status.code >= 100 && head.status.code < 200 { return }
            reply = HTTPReply(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) }, body: [])
        case .body(let buffer):
            reply?.body.append(contentsOf: buffer.readableBytesView)
            if let count = reply?.body.count, count > maxBodyBytes {
                promise.fail(TsunaguClientError.protocolViolation("response body larger than \(maxBodyBytes) bytes"))
                context.close(promise: nil)
            }
        case .end:
            if let reply { promise.succeed(reply) }
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(TsunaguClientError.closed(code: nil, reason: "HTTP connection closed before the response was complete"))
        context.fireChannelInactive()
    }
}
