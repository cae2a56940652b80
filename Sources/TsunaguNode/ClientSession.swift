import Logging
import NIOCore
import Synchronization
import TsunaguCore
import TsunaguStore
import TsunaguWebSocket

/// One client's WebSocket session on `/v1/ws`: authentication, its subscriptions, and its
/// requests. Frames arrive on the event loop, are parsed there, and queue in an inbox that a task
/// drains in order against the store (requests are answered in the order sent). The task exists
/// only while requests wait: an idle subscribed connection holds no task (a suspended task keeps
/// about 5 KB of stack slabs, the largest part of an idle connection's memory before this).
///
/// `auth` and `subscribe` that find the inbox idle are answered on the event loop at once, with a
/// read on the loop's thread (see `runInline`): they are what a reconnecting client sends.
final class ClientSession: WebSocketMessageDelegate, @unchecked Sendable {
    let context: NodeContext
    /// Set in `webSocketDidOpen`, before any other callback.
    private(set) var connection: WebSocketConnection!

    // Event-loop state.
    private var budget = MalformedMessageBudget()
    private var authTimer: Scheduled<Void>?
    private var authDeadlinePassed = false
    /// `auth` requests received and not answered yet.
    private var authsPending = 0
    /// False once the connection closed (no new requests are taken).
    private var open = true

    // Shared between the loop and the request task.
    private let authenticated = Atomic<Bool>(false)
    private let inbox = Mutex(RequestInbox())
    let subscriptions = Mutex<[TimelineID: Subscription]>([:])
    /// The client certificate presented on this connection (read at open, on the loop).
    private var certificateFingerprint: [UInt8]?
    /// Written once by the request task on `auth`; read by the loop at close.
    private let sessionBox = Mutex<SessionRecord?>(nil)

    /// Requests waiting for the task at most; more get `rate_limited` without being run.
    static let maxQueuedRequests = 256

    init(context: NodeContext) { self.context = context }

    var session: SessionRecord? { sessionBox.withLock { $0 } }

    // MARK: WebSocketMessageDelegate (on the event loop)

    func webSocketDidOpen(_ connection: WebSocketConnection) {
        self.connection = connection
        certificateFingerprint = ClientCertificate.fingerprint(of: connection.channel)
        context.clients.withLock { $0[ObjectIdentifier(self)] = self }
        authTimer = connection.eventLoop.scheduleTask(in: context.configuration.authTimeout) { [self] in
            authDeadlinePassed = true
            closeIfNotAuthenticated()
        }
    }

    /// PROTOCOL.md §1: closed with 4001 when no valid `auth` was *sent* within the timeout. An
    /// `auth` that arrived in time but is still being checked (a node busy with a reconnect storm)
    /// is waited for: closing it would make the client retry and the storm worse. Decided once
    /// the deadline passed and no `auth` is pending.
    private func closeIfNotAuthenticated() {
        guard authDeadlinePassed, authsPending == 0, !authenticated.load(ordering: .relaxed) else { return }
        connection.close(code: .init(codeNumber: Int(TsunaguCloseCode.authTimeout)),
                         reason: "no valid auth within the auth timeout")
    }

    func webSocket(_ connection: WebSocketConnection, didReceiveText text: String) {
        let request: ClientRequest
        do {
            request = try ClientRequest.parse(text)
        } catch {
            reply(ServerMessage.error(re: error.re, code: error.code, message: error.message))
            if error.code == .badRequest && !budget.record(nowMillis: WireTime.nowMillis()) {
                connection.close(code: .policyViolation, reason: "too many malformed messages")
            }
            return
        }
        guard open else { return }
        if inbox.withLock({ $0.isIdle }), runInline(request) { return }
        let isAuth = if case .auth = request.command { true } else { false }
        switch inbox.withLock({ $0.enqueue(request, limit: Self.maxQueuedRequests) }) {
        case .full:
            reply(ServerMessage.error(re: request.id, code: .rateLimited,
                                      message: "too many requests in flight; wait for replies"))
        case .queued:
            if isAuth { authsPending += 1 }
        case .startDraining:
            if isAuth { authsPending += 1 }
            Task { [self] in await drainInbox() }
        }
    }

    func webSocket(_ connection: WebSocketConnection, didReceiveBinary data: ByteBuffer) {
        // The WebSocket layer closes with 1003 before this is reached on /v1/ws.
        connection.close(code: .unacceptableData, reason: "binary frames are not accepted")
    }

    func webSocketDidClose(_ connection: WebSocketConnection) {
        context.clients.withLock { $0[ObjectIdentifier(self)] = nil }
        authTimer?.cancel()
        // Requests already queued still run (a post sent just before the close is committed or
        // refused as before; the client learns its fate by resuming with `since`).
        open = false
        let subscriptions = self.subscriptions.withLock { subs in
            defer { subs = [:] }
            return Array(subs.values)
        }
        for subscription in subscriptions {
            context.hub.remove(subscription)
            subscription.end()
        }
        if let session { context.hub.unregister(self, session: session.id) }
    }

    /// The node is leaving: PROTOCOL.md §3, `reconnect` with a jittered delay, then close 1001.
    func moveAway(afterMillis: Int) {
        reply(ServerMessage.reconnect(reason: "draining", afterMillis: afterMillis))
        connection.close(code: .goingAway, reason: "node draining")
    }

    /// Ends the connection from outside (logout, disable).
    func terminate(code: UInt16, reason: String) {
        connection.close(code: .init(codeNumber: Int(code)), reason: reason)
    }

    func reply(_ bytes: [UInt8]) {
        connection.send(SharedFrame(text: ByteBuffer(bytes: bytes)))
    }

    // MARK: requests (on the connection's drain task)

    /// Runs queued requests one at a time until the inbox is empty, then ends; the inbox turns
    /// idle on the event loop, behind this task's last reply (`RequestInbox.next`).
    private func drainInbox() async {
        while let request = inbox.withLock({ $0.next() }) {
            await handle(request)
        }
        connection.eventLoop.execute { [self] in
            if inbox.withLock({ $0.finishDraining() }) {
                Task { [self] in await drainInbox() }
            }
        }
    }

    private func handle(_ request: ClientRequest) async {
        if case .auth = request.command {
            await run(request)
            // After the answer was queued, so a refused late `auth` still gets its error first.
            connection.eventLoop.execute { [self] in
                authsPending -= 1
                closeIfNotAuthenticated()
            }
        } else {
            await run(request)
        }
    }

    private func run(_ request: ClientRequest) async {
        do {
            if case .auth(let token) = request.command {
                return try authenticate(request.id, token: token)
            }
            guard let session, session.expiresAtMillis > WireTime.nowMillis() else {
                throw HubError.unauthenticated(self.session == nil ? "send auth first" : "the session has expired")
            }
            try await perform(request, as: session.user)
            context.metrics.request(request.command.operationName, outcome: "ok")
        } catch {
            replyFailure(error, to: request)
        }
    }

    // MARK: requests answered on the event loop

    /// Answers `auth`, and `subscribe` once authenticated, on the event loop with a store read on
    /// this thread; false for every other request (they go through the inbox). Only called when
    /// the inbox is idle, so the order of answers is kept.
    ///
    /// Why: a connection's setup was two trips each way between the event loop, the task pool and
    /// the store's reader queue, and those thread hand-offs cost more CPU than the reads (a
    /// quarter of a connection setup, measured with perf during a handshake run). The reads are
    /// short indexed lookups that WAL never makes wait for a writer.
    private func runInline(_ request: ClientRequest) -> Bool {
        switch request.command {
        case .auth(let token):
            do {
                try authenticate(request.id, token: token)
            } catch {
                replyFailure(error, to: request)
            }
            // No `auth` is pending any more; a refused one leaves the deadline in force.
            closeIfNotAuthenticated()
            return true
        case .subscribe(let timeline, let since):
            guard let session, session.expiresAtMillis > WireTime.nowMillis() else { return false }
            do {
                try subscribe(request.id, timeline: timeline, since: since, user: session.user)
                context.metrics.request("subscribe", outcome: "ok")
            } catch {
                replyFailure(error, to: request)
            }
            return true
        default:
            return false
        }
    }

    private func replyFailure(_ error: any Error, to request: ClientRequest) {
        let (code, message) = context.failure(error, operation: request.command.operationName)
        context.metrics.request(request.command.operationName, outcome: code.rawValue)
        reply(ServerMessage.error(re: request.id, code: code, message: message))
    }

    /// On the event loop (`runInline`) or the request task; the store read runs on that thread.
    private func authenticate(_ id: Int64, token: String) throws {
        guard session == nil else { throw HubError.badRequest("already authenticated") }
        let record: SessionRecord
        switch try context.store.authenticateConnection(token: token, certificateFingerprint: certificateFingerprint) {
        case .live(let live):
            record = live
        case .unknownToken:
            throw HubError.unauthenticated("the token is not a live session")
        case .clientCertificateRequired:
            throw HubError.clientCertificateRequired
        }
        sessionBox.withLock { $0 = record }
        authenticated.store(true, ordering: .relaxed)
        // Expiry is watched by the hub's once-a-second sweep (SubscriptionHub.endExpiredSessions).
        context.hub.register(self, session: record)
        connection.eventLoop.execute { [self] in
            authTimer?.cancel()
            authTimer = nil
        }
        let nodeID = context.nodeID.rawValue
        reply(ServerMessage.ok(re: id) { w in
            w.key("user")
            record.user.writeSummary(into: &w)
            w.field("node", nodeID)
        })
    }
}

extension ClientRequest.Command {
    /// A low-cardinality name for logs and metrics.
    var operationName: String {
        switch self {
        case .auth: "auth"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .post: "post"
        case .react: "react"
        case .read: "read"
        case .call: "call"
        case .ping: "ping"
        }
    }
}
