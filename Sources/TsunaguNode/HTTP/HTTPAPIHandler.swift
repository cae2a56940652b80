import NIOCore
import NIOHTTP1
import TsunaguCore

/// Serves the JSON API on a connection that did not upgrade to WebSocket. Reads a whole request
/// (bounded), runs its handler as a task, writes the answer, and handles the next request of a
/// keep-alive connection only after the previous one is answered (HTTP/1.1 pipelining order).
final class HTTPAPIHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    static let name = "tsunagu.api"

    private let router: APIRouter
    private let maxBodyBytes: Int
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var bodyTooLarge = false
    private var queue: [(HTTPRequestHead, [UInt8], Bool)] = []
    private var busy = false
    /// The client's address named by a trusted proxy's PROXY header (ProxyHeaderHandler); nil:
    /// the socket's own.
    private let source: String?

    /// Maps a handler's error to a wire code and message (NodeContext.failure).
    private let failureMapper: @Sendable (any Error, String) -> (code: WireErrorCode, message: String)

    /// The connection's request and idle deadlines, told when requests arrive and are answered.
    private var deadline: ConnectionDeadlineHandler?

    init(router: APIRouter, maxBodyBytes: Int, source: String? = nil,
         failure: @escaping @Sendable (any Error, String) -> (code: WireErrorCode, message: String)) {
        self.router = router
        self.maxBodyBytes = maxBodyBytes
        self.source = source
        self.failureMapper = failure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        deadline = try? context.pipeline.syncOperations.handler(type: ConnectionDeadlineHandler.self)
    }

    /// Upgraded to WebSocket or closing: the HTTP deadlines end with the HTTP layer.
    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.stop()
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
            bodyTooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > maxBodyBytes {
                bodyTooLarge = true
            } else if !bodyTooLarge {
                body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
            }
        case .end:
            guard let head else { return }
            self.head = nil
            queue.append((head, body, bodyTooLarge))
            body = []
            deadline?.requestReceived()
            processNext(context: context)
        }
    }

    private func processNext(context: ChannelHandlerContext) {
        guard !busy, !queue.isEmpty else { return }
        busy = true
        let (head, body, tooLarge) = queue.removeFirst()
        let keepAlive = head.isKeepAlive
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        if tooLarge {
            return finish(APIResponse.error(.tooLarge, "the request body is larger than \(maxBodyBytes) bytes"),
                          head: head, keepAlive: false, context: context)
        }
        var request = APIRequest(head: head, body: body, source: source ?? context.channel.remoteAddress?.ipAddress,
                                 certificateFingerprint: ClientCertificate.fingerprint(of: context.channel))
        let handler: APIRouter.Handler
        switch router.match(method: head.method, path: request.path) {
        case .notFound:
            return finish(.error(.notFound, "no such endpoint"), head: head, keepAlive: keepAlive, context: context)
        case .methodNotAllowed:
            return finish(APIResponse(status: .methodNotAllowed, body: APIResponse.error(
                .badRequest, "method not allowed on this endpoint").body), head: head, keepAlive: keepAlive,
                          context: context)
        case .found(let found, let parameters):
            handler = found
            request.parameters = parameters
        }
        let failure = self.failureMapper
        let eventLoop = context.eventLoop
        // Every line logged while this request runs carries its id (LogContext).
        let requestID = LogContext.newID()
        Task {
            let response: APIResponse = await LogContext.$request.withValue(requestID) {
                do {
                    return try await handler(request)
                } catch {
                    let (code, message) = failure(error, request.path)
                    return .error(code, message)
                }
            }
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.finish(response, head: head, keepAlive: keepAlive, context: context)
            }
        }
    }

    private func finish(_ response: APIResponse, head: HTTPRequestHead, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType + (response.contentType.hasPrefix("text/") ? "; charset=utf-8" : ""))
        if response.stream == nil {
            headers.add(name: "Content-Length", value: String(response.body.count))
        } else {
            headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        if !response.headers.contains(where: { $0.0 == "Cache-Control" }) { headers.add(name: "Cache-Control", value: "no-store") }
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status,
                                                             headers: headers))), promise: nil)
        if let stream = response.stream {
            return finishStreaming(stream, keepAlive: keepAlive, context: context)
        }
        if !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))),
                          promise: nil)
        }
        let done = context.writeAndFlushPromise()
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        busy = false
        if keepAlive {
            processNext(context: context)
            if !busy { deadline?.responseSent() }
        } else {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

extension HTTPAPIHandler {
    /// Sends the streamed body after the head, then the end; the next request of a keep-alive
    /// connection waits until it is done. A stream that fails midway closes the connection (the
    /// client sees a chunked body without its end: incomplete, never mistaken for whole).
    private func finishStreaming(_ stream: @escaping ResponseStream, keepAlive: Bool, context: ChannelHandlerContext) {
        context.flush()
        let channel = context.channel
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        Task {
            do {
                try await stream(ResponseBodyWriter(channel: channel))
                try await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
            } catch {
                channel.close(promise: nil)
                return
            }
            channel.eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.busy = false
                if keepAlive { handler.processNext(context: context) } else { channel.close(promise: nil) }
            }
        }
    }
}

extension ChannelHandlerContext {
    fileprivate func writeAndFlushPromise() -> EventLoopPromise<Void> { eventLoop.makePromise() }
}
