import NIOCore
import NIOWebSocket

/// A WebSocket client connection speaking Tsunagu's JSON protocol. Frames are masked (RFC 6455 §5.3).
///
/// Replies (messages with a `re` that matches a pending `request`) go to that request; everything
/// else — events, receipts, `reconnect`, and replies nobody waits for (to raw `sendText` requests, or
/// late ones after a request timed out) — is queued in arrival order for `nextPush`.
public final class TsunaguConnection: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<ClientFrameHandler>
    private let core: NIOLoopBound<ConnectionCore>

    /// permessage-deflate was negotiated.
    public let isCompressed: Bool

    /// The event loop the connection lives on.
    public var eventLoop: any EventLoop { channel.eventLoop }

    private init(established: EstablishedWebSocket<ConnectionCore>) {
        self.channel = established.channel
        self.handler = established.handler
        self.core = established.delegate
        self.isCompressed = established.compressed
    }

    /// Connects to `ws://host:port/path` and completes the upgrade.
    /// - Throws: `TsunaguClientError.handshakeFailed(status:)` when the server answers without 101,
    ///   `.protocolViolation("compression not available")` when `offerCompression` is asked of a build
    ///   without permessage-deflate, or the socket error.
    public static func connect(host: String, port: Int, path: String = "/v1/ws", offerCompression: Bool = false,
                               localAddress: String? = nil, group: any EventLoopGroup) async throws -> TsunaguConnection {
        var options = WebSocketConnectOptions(host: host, port: port)
        options.path = path
        options.offerCompression = offerCompression
        options.localAddress = localAddress
        let established = try await WebSocketConnector.connect(options, group: group) { channel in
            ConnectionCore(eventLoop: channel.eventLoop)
        }.get()
        return TsunaguConnection(established: established)
    }

    /// Sends a request object (adds "id" automatically unless the body has an integer "id") and waits
    /// for its ok/error reply (matched by `re`); the reply is returned whatever its type. Pushes that
    /// arrive meanwhile stay queued for `nextPush`.
    /// - Throws: `.timeout` when no reply came in time, `.closed` when the connection ends first.
    public func request(_ body: [String: JSONValue], timeout: Duration = .seconds(5)) async throws -> JSONObject {
        let core = self.core
        let handler = self.handler
        let amount = TimeAmount(timeout)
        return try await channel.eventLoop.flatSubmit {
            core.value.request(body, timeout: amount, handler: handler.value)
        }.get()
    }

    /// Next server push (a message without a matching `re`), oldest first.
    /// - Throws: `.timeout` after the timeout, `.closed(code:reason:)` once closed and the queue is empty,
    ///   `.protocolViolation` for a message that is not a JSON object (it is consumed).
    public func nextPush(timeout: Duration = .seconds(5)) async throws -> JSONObject {
        let core = self.core
        let amount = TimeAmount(timeout)
        return try await channel.eventLoop.flatSubmit { core.value.nextPush(timeout: amount) }.get()
    }

    /// Sends any text as one text message (even malformed JSON); compressed when negotiated.
    public func sendText(_ text: String) async throws {
        let handler = self.handler
        try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            let promise = handler.eventLoop.makePromise(of: Void.self)
            handler.value.sendMessage(ByteBuffer(string: text), promise: promise)
            return promise.futureResult
        }.get()
    }

    /// Sends one frame as given (masked, never compressed): binary frames, fragments, control frames.
    public func sendFrame(opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true) async throws {
        let handler = self.handler
        try await channel.eventLoop.flatSubmit {
            let promise = handler.eventLoop.makePromise(of: Void.self)
            let frame = WebSocketFrame(fin: fin, opcode: opcode, data: ByteBuffer(bytes: payload))
            handler.value.sendRawFrame(frame, promise: promise)
            return promise.futureResult
        }.get()
    }

    /// Waits until the connection is closed; returns the close code the server sent (1005 for a close
    /// frame without one), nil if the connection ended without a close frame from the server.
    public func waitForClose(timeout: Duration = .seconds(5)) async throws -> UInt16? {
        let core = self.core
        let amount = TimeAmount(timeout)
        return try await channel.eventLoop.flatSubmit { core.value.waitForClose(timeout: amount) }.get()
    }

    /// Closes with code 1000 and waits (up to 2 s) for the server to end the connection.
    public func close() async {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.startClose(code: 1000, reason: "", linger: .seconds(2)) }
        try? await channel.closeFuture.get()
    }

    /// Whether the connection is still open.
    public var isOpen: Bool { channel.isActive }
}

/// The connection's state, confined to its event loop.
final class ConnectionCore: ClientMessageDelegate {
    private let eventLoop: any EventLoop
    private var nextID = 1
    private var pending: [Int: (promise: EventLoopPromise<JSONObject>, timeout: Scheduled<Void>)] = [:]
    private var pushes = CircularBuffer<Result<JSONObject, TsunaguClientError>>()
    private var pushWaiters: [(token: Int, promise: EventLoopPromise<JSONObject>, timeout: Scheduled<Void>)] = []
    private var closeWaiters: [Int: (promise: EventLoopPromise<UInt16?>, timeout: Scheduled<Void>)] = [:]
    private var nextToken = 0
    private var closed: (code: UInt16?, reason: String)?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    private var closedError: TsunaguClientError {
        .closed(code: closed?.code, reason: closed?.reason ?? "connection closed")
    }

    func request(_ body: JSONObject, timeout: TimeAmount, handler: ClientFrameHandler) -> EventLoopFuture<JSONObject> {
        if closed != nil || handler.sentClose { return eventLoop.makeFailedFuture(closedError) }
        var body = body
        let id: Int
        if let given = body["id"]?.intValue {
            id = given
            nextID = max(nextID, given + 1)
        } else {
            id = nextID
            nextID += 1
            body["id"] = .int(id)
        }
        guard pending[id] == nil else {
            return eventLoop.makeFailedFuture(TsunaguClientError.protocolViolation("request id \(id) is already pending"))
        }
        let promise = eventLoop.makePromise(of: JSONObject.self)
        let scheduled = eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            if let entry = self?.pending.removeValue(forKey: id) {
                entry.promise.fail(TsunaguClientError.timeout)
            }
        }
        pending[id] = (promise, scheduled)
        let write = eventLoop.makePromise(of: Void.self)
        handler.sendMessage(ByteBuffer(string: JSONValue.object(body).serialized()), promise: write)
        write.futureResult.assumeIsolated().whenFailure { [weak self] error in
            if let entry = self?.pending.removeValue(forKey: id) {
                entry.timeout.cancel()
                entry.promise.fail(error)
            }
        }
        return promise.futureResult
    }

    func nextPush(timeout: TimeAmount) -> EventLoopFuture<JSONObject> {
        if let first = pushes.popFirst() {
            return eventLoop.makeCompletedFuture(first.mapError { $0 as any Error })
        }
        if closed != nil { return eventLoop.makeFailedFuture(closedError) }
        let token = makeToken()
        let promise = eventLoop.makePromise(of: JSONObject.self)
        let scheduled = eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, let index = self.pushWaiters.firstIndex(where: { $0.token == token }) else { return }
            self.pushWaiters.remove(at: index).promise.fail(TsunaguClientError.timeout)
        }
        pushWaiters.append((token, promise, scheduled))
        return promise.futureResult
    }

    func waitForClose(timeout: TimeAmount) -> EventLoopFuture<UInt16?> {
        if let closed { return eventLoop.makeSucceededFuture(closed.code) }
        let token = makeToken()
        let promise = eventLoop.makePromise(of: UInt16?.self)
        let scheduled = eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            if let waiter = self?.closeWaiters.removeValue(forKey: token) {
                waiter.promise.fail(TsunaguClientError.timeout)
            }
        }
        closeWaiters[token] = (promise, scheduled)
        return promise.futureResult
    }

    private func makeToken() -> Int {
        nextToken += 1
        return nextToken
    }

    private func push(_ item: Result<JSONObject, TsunaguClientError>) {
        if !pushWaiters.isEmpty {
            let waiter = pushWaiters.removeFirst()
            waiter.timeout.cancel()
            waiter.promise.completeWith(item.mapError { $0 as any Error })
        } else {
            pushes.append(item)
        }
    }

    // MARK: ClientMessageDelegate

    func webSocketText(_ message: ByteBuffer) {
        let object: JSONObject
        do {
            guard let parsed = try message.withUnsafeReadableBytes({ try JSONParser.parseDocument($0) }).objectValue else {
                push(.failure(.protocolViolation("server message is not a JSON object: \(String(buffer: message).prefix(200))")))
                return
            }
            object = parsed
        } catch {
            push(.failure(.protocolViolation("server sent invalid JSON (\(error)): \(String(buffer: message).prefix(200))")))
            return
        }
        if let re = object["re"]?.intValue, let entry = pending.removeValue(forKey: re) {
            entry.timeout.cancel()
            entry.promise.succeed(object)
        } else {
            push(.success(object))
        }
    }

    func webSocketProtocolError(_ error: TsunaguClientError) {
        push(.failure(error))
    }

    func webSocketClosed(code: UInt16?, reason: String) {
        guard closed == nil else { return }
        closed = (code, reason)
        let error = closedError
        for (_, entry) in pending {
            entry.timeout.cancel()
            entry.promise.fail(error)
        }
        pending = [:]
        for waiter in pushWaiters {
            waiter.timeout.cancel()
            waiter.promise.fail(error)
        }
        pushWaiters = []
        for (_, waiter) in closeWaiters {
            waiter.timeout.cancel()
            waiter.promise.succeed(code)
        }
        closeWaiters = [:]
    }
}
