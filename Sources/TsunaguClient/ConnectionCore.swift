import NIOCore
import TsunaguWebSocket

/// The connection's state, confined to its event loop.
final class ConnectionCore: WebSocketClientDelegate {
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

    func request(_ body: JSONObject, timeout: TimeAmount, client: WebSocketClient) -> EventLoopFuture<JSONObject> {
        if closed != nil { return eventLoop.makeFailedFuture(closedError) }
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
        client.send(ByteBuffer(string: JSONValue.object(body).serialized()), promise: write)
        write.futureResult.assumeIsolated().whenFailure { [weak self] error in
            if let entry = self?.pending.removeValue(forKey: id) {
                entry.timeout.cancel()
                entry.promise.fail(TsunaguClientError.converting(error))
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

    // MARK: WebSocketClientDelegate

    func webSocketDidReceive(text message: ByteBuffer) {
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

    func webSocketDidFail(_ error: WebSocketClientError) {
        push(.failure(TsunaguClientError(error)))
    }

    func webSocketDidClose(code: UInt16?, reason: String) {
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
