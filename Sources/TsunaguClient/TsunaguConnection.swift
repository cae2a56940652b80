import NIOCore
import NIOWebSocket
import TsunaguWebSocket

/// A WebSocket client connection speaking Tsunagu's JSON protocol, on TsunaguWebSocket's
/// `WebSocketClient` (frames masked, RFC 6455 §5.3).
///
/// Replies (messages with a `re` that matches a pending `request`) go to that request; everything
/// else — events, receipts, `reconnect`, and replies nobody waits for (to raw `sendText` requests, or
/// late ones after a request timed out) — is queued in arrival order for `nextPush`.
public final class TsunaguConnection: Sendable {
    private let client: WebSocketClient
    private let core: NIOLoopBound<ConnectionCore>

    /// permessage-deflate was negotiated.
    public var isCompressed: Bool { client.isCompressed }

    /// The event loop the connection lives on.
    public var eventLoop: any EventLoop { client.eventLoop }

    private init(client: WebSocketClient, core: NIOLoopBound<ConnectionCore>) {
        self.client = client
        self.core = core
    }

    /// Connects to `ws://host:port/path` and completes the upgrade.
    /// - Throws: `TsunaguClientError.handshakeFailed(status:)` when the server answers without 101,
    ///   `.protocolViolation` when its handshake is invalid, or the socket error.
    public static func connect(host: String, port: Int, path: String = "/v1/ws", offerCompression: Bool = false,
                               localAddress: String? = nil, group: any EventLoopGroup) async throws -> TsunaguConnection {
        let configuration = WebSocketClient.Configuration(path: path, offerCompression: offerCompression,
                                                          localAddress: localAddress)
        do {
            let (client, core) = try await WebSocketClient.connect(
                host: host, port: port, configuration: configuration, group: group
            ) { eventLoop in ConnectionCore(eventLoop: eventLoop) }.get()
            return TsunaguConnection(client: client, core: core)
        } catch {
            throw TsunaguClientError.converting(error)
        }
    }

    /// Sends a request object (adds "id" automatically unless the body has an integer "id") and waits
    /// for its ok/error reply (matched by `re`); the reply is returned whatever its type. Pushes that
    /// arrive meanwhile stay queued for `nextPush`.
    /// - Throws: `.timeout` when no reply came in time, `.closed` when the connection ends first.
    public func request(_ body: [String: JSONValue], timeout: Duration = .seconds(5)) async throws -> JSONObject {
        let core = self.core
        let client = self.client
        let amount = TimeAmount(timeout)
        return try await eventLoop.flatSubmit {
            core.value.request(body, timeout: amount, client: client)
        }.get()
    }

    /// Next server push (a message without a matching `re`), oldest first.
    /// - Throws: `.timeout` after the timeout, `.closed(code:reason:)` once closed and the queue is empty,
    ///   `.protocolViolation` for a message that is not a JSON object (it is consumed).
    public func nextPush(timeout: Duration = .seconds(5)) async throws -> JSONObject {
        let core = self.core
        let amount = TimeAmount(timeout)
        return try await eventLoop.flatSubmit { core.value.nextPush(timeout: amount) }.get()
    }

    /// Sends any text as one text message (even malformed JSON); compressed when negotiated.
    public func sendText(_ text: String) async throws {
        let promise = eventLoop.makePromise(of: Void.self)
        client.send(ByteBuffer(string: text), promise: promise)
        do {
            try await promise.futureResult.get()
        } catch {
            throw TsunaguClientError.converting(error)
        }
    }

    /// Sends one frame as given (masked, never compressed): binary frames, fragments, control frames.
    public func sendFrame(opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true) async throws {
        let promise = eventLoop.makePromise(of: Void.self)
        client.sendFrame(opcode: opcode, payload: ByteBuffer(bytes: payload), fin: fin, promise: promise)
        do {
            try await promise.futureResult.get()
        } catch {
            throw TsunaguClientError.converting(error)
        }
    }

    /// Waits until the connection is closed; returns the close code the server sent (1005 for a close
    /// frame without one), nil if the connection ended without a close frame from the server.
    public func waitForClose(timeout: Duration = .seconds(5)) async throws -> UInt16? {
        let core = self.core
        let amount = TimeAmount(timeout)
        return try await eventLoop.flatSubmit { core.value.waitForClose(timeout: amount) }.get()
    }

    /// Closes with code 1000 and waits (up to 2 s) for the server to end the connection.
    public func close() async {
        client.close()
        try? await client.channel.closeFuture.get()
    }

    /// Whether the connection is still open.
    public var isOpen: Bool { client.isOpen }
}
