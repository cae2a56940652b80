import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import TsunaguClient

/// A small fake Tsunagu node for the client's tests: `GET /v1/ws` upgrades to WebSocket and answers
/// requests with canned replies; `POST /v1/sessions` answers 201 with a token; anything else is 404.
///
/// Request types it knows (besides `auth`, `subscribe`, `post`, `ping`):
/// `silent` (no answer), `close` (close frame with `code`), `drop` (TCP close, no close frame),
/// `fragmented` (a push in three fragments with a ping in between, then ok). A pong from the client
/// is reported as a `{"type":"pong_seen"}` push. Unmasked client frames get close 1002, binary 1003.
///
/// permessage-deflate is accepted when offered. Having no zlib, the server cannot read compressed
/// messages: it echoes each one's payload back as it came (still compressed, RSV1 set), then sends
/// `{"type":"stored","n":<count>}` "compressed" as a DEFLATE stored block (RFC 1951 §3.2.4).
final class ClientTestServer: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    private init(channel: any Channel) { self.channel = channel }

    static func start(group: any EventLoopGroup) async throws -> ClientTestServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let httpHandler = ClientTestHTTPHandler()
                    let boundHTTPHandler = NIOLoopBound(httpHandler, eventLoop: channel.eventLoop)
                    let upgrader = NIOWebSocketServerUpgrader(
                        maxFrameSize: 1 << 20,
                        shouldUpgrade: { channel, head in
                            guard head.uri == "/v1/ws" else { return channel.eventLoop.makeSucceededFuture(nil) }
                            var headers = HTTPHeaders()
                            if head.headers["sec-websocket-extensions"].contains(where: { $0.contains("permessage-deflate") }) {
                                headers.add(name: "Sec-WebSocket-Extensions",
                                            value: "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
                            }
                            return channel.eventLoop.makeSucceededFuture(headers)
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                let ops = channel.pipeline.syncOperations
                                try ops.addHandler(ClientTestMaskCheck())
                                try ops.addHandler(NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64,
                                    maxAccumulatedFrameSize: 1 << 20))
                                try ops.addHandler(ClientTestWebSocketHandler())
                            }
                        })
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(boundHTTPHandler.value, promise: nil)
                        }))
                    try channel.pipeline.syncOperations.addHandler(httpHandler)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ClientTestServer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }
}

/// Plain HTTP: the sessions endpoint and 404 for the rest.
private final class ClientTestHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            let status: HTTPResponseStatus
            let reply: JSONObject
            if head.method == .POST && head.uri == "/v1/sessions" {
                let request = (try? JSONValue.parse(body.readableBytesView))?.objectValue ?? [:]
                if request["password"]?.stringValue == "secret" {
                    status = .created
                    reply = ["token": "tok_test", "expires_at": "2026-11-28T09:00:00.000+09:00",
                             "user": ["id": "u_1", "email": request["email"] ?? .null]]
                } else {
                    status = .unauthorized
                    reply = ["code": "unauthenticated", "message": "bad credentials"]
                }
            } else if head.method == .GET && head.uri == "/whoami" {
                status = .ok
                reply = ["authorization": .string(head.headers.first(name: "authorization") ?? "")]
            } else {
                status = .notFound
                reply = ["code": "not_found", "message": "no such path"]
            }
            let text = JSONValue.object(reply).serialized()
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(text.utf8.count))
            context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                          promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// Clients must mask every frame (RFC 6455 §5.3): close 1002 otherwise.
private final class ClientTestMaskCheck: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if frame.maskKey == nil {
            var payload = context.channel.allocator.buffer(capacity: 2)
            payload.writeInteger(UInt16(1002))
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)))
                .whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
            return
        }
        context.fireChannelRead(data)
    }
}

private final class ClientTestWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var seq = 1
    private var closing = false
    private var compressedSeen = 0

    /// A message as DEFLATE stored block, minus the 00 00 FF FF tail (RFC 7692 §7.2.1).
    private func storedBlock(_ text: String) -> ByteBuffer {
        let bytes = Array(text.utf8)
        precondition(bytes.count <= 0xFFFF)
        let len = UInt16(bytes.count)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0))  // BFINAL 0, BTYPE 00 (stored)
        buffer.writeInteger(len, endianness: .little)
        buffer.writeInteger(~len, endianness: .little)
        buffer.writeBytes(bytes)
        return buffer
    }

    private func send(_ context: ChannelHandlerContext, _ object: JSONObject) {
        let frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: JSONValue.object(object).serialized()))
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
    }

    private func close(_ context: ChannelHandlerContext, code: UInt16, reason: String = "") {
        guard !closing else { return }
        closing = true
        var payload = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.writeInteger(code)
        payload.writeString(reason)
        context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)),
                              promise: nil)
        // Wait for the client's echo (channelRead closes then), or give up after a while.
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text where frame.rsv1:
            compressedSeen += 1
            context.write(Self.wrapOutboundOut(WebSocketFrame(fin: true, rsv1: true, opcode: .text, data: frame.unmaskedData)),
                          promise: nil)
            let stored = JSONValue.object(["type": "stored", "n": .int(compressedSeen)]).serialized()
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, rsv1: true, opcode: .text, data: storedBlock(stored))),
                                  promise: nil)
        case .text:
            handleText(context, String(buffer: frame.unmaskedData))
        case .binary:
            close(context, code: 1003, reason: "binary frames are not accepted")
        case .pong:
            send(context, ["type": "pong_seen", "data": .string(String(buffer: frame.unmaskedData))])
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            if closing {
                context.close(promise: nil)
            } else {
                closing = true
                var echo = frame.unmaskedData
                let code = echo.readInteger(as: UInt16.self) ?? 1000
                var payload = context.channel.allocator.buffer(capacity: 2)
                payload.writeInteger(code)
                context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)))
                    .whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
            }
        default:
            break
        }
    }

    private func handleText(_ context: ChannelHandlerContext, _ text: String) {
        guard let request = (try? JSONValue.parse(text))?.objectValue, let type = request["type"]?.stringValue else {
            send(context, ["type": "error", "code": "bad_request", "message": "malformed JSON"])
            return
        }
        let id = request["id"] ?? .null
        switch type {
        case "auth":
            send(context, ["type": "ok", "re": id, "user": ["id": "u_1", "name": "Test User", "org": "o_1"], "node": "n1"])
        case "subscribe":
            let timeline = request["timeline"] ?? .null
            // An event overtakes the reply, and a receipt follows it: the client must sort them out.
            send(context, ["type": "event", "timeline": timeline, "seq": .int(seq), "kind": "message", "body": "earlier"])
            send(context, ["type": "ok", "re": id, "head": .int(seq), "receipts": []])
            send(context, ["type": "receipt", "timeline": timeline, "user": "u_2", "seq": .int(seq)])
        case "post":
            seq += 1
            send(context, ["type": "ok", "re": id, "seq": .int(seq), "at": "2026-11-27T09:15:02.117+09:00"])
            send(context, ["type": "event", "timeline": request["timeline"] ?? .null, "seq": .int(seq), "kind": "message",
                           "body": request["body"] ?? .null, "client_msg_id": request["client_msg_id"] ?? .null])
        case "ping":
            send(context, ["type": "ok", "re": id, "at": "2026-11-27T09:15:02.117+09:00"])
        case "silent":
            break
        case "close":
            close(context, code: UInt16(request["code"]?.intValue ?? 1000), reason: "bye")
        case "drop":
            context.close(promise: nil)
        case "fragmented":
            let text = JSONValue.object(["type": "event", "seq": 99, "kind": "message", "body": "in three parts"]).serialized()
            let bytes = Array(text.utf8)
            let a = bytes.count / 3
            let b = 2 * bytes.count / 3
            context.write(Self.wrapOutboundOut(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(bytes: bytes[0..<a]))),
                          promise: nil)
            context.write(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "are you there"))),
                          promise: nil)
            context.write(Self.wrapOutboundOut(WebSocketFrame(fin: false, opcode: .continuation, data: ByteBuffer(bytes: bytes[a..<b]))),
                          promise: nil)
            context.write(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(bytes: bytes[b...]))),
                          promise: nil)
            send(context, ["type": "ok", "re": id])
        default:
            send(context, ["type": "error", "re": id, "code": "bad_request", "message": "unknown type \(type)"])
        }
    }
}
