import Logging
import NIOCore
import Synchronization
import TsunaguCore
import TsunaguRealtime
import TsunaguStore
import TsunaguWebSocket

/// One client's WebSocket connection on `/v1/ws`: carries out what its `SessionStateMachine`
/// decides (authentication, the ways it ends) and runs its requests.
///
/// Frames arrive on the event loop, are parsed there, and queue in an inbox that a task drains in
/// order against the store (requests are answered in the order sent). The task exists only while
/// requests wait: an idle subscribed connection holds no task (a suspended task keeps about 5 KB
/// of stack slabs, the largest part of an idle connection's memory before this). `auth` and
/// `subscribe` that find the inbox idle are answered on the event loop at once, with a read on the
/// loop's thread (see `runInline`): they are what a reconnecting client sends.
///
/// Its state (the machine, the inbox, its subscriptions) sits behind one lock, shared by the
/// event loop and the request task; actions run outside it.
final class ClientSession: WebSocketMessageDelegate, @unchecked Sendable {
    private struct State {
        var machine = SessionStateMachine<SessionRecord>()
        var inbox = RequestInbox()
        var subscriptions: [TimelineID: Subscription] = [:]
    }

    let context: NodeContext
    private let state = Mutex(State())
    /// Set in `webSocketDidOpen`, before any other callback.
    private(set) var connection: WebSocketConnection!
    /// The client certificate presented on this connection (read at open, on the loop).
    private var certificateFingerprint: [UInt8]?
    /// Event-loop confined.
    private var authTimer: Scheduled<Void>?

    /// Requests waiting for the task at most; more get `rate_limited` without being run.
    static let maxQueuedRequests = 256

    /// Consecutive posts queued for the store at once, at most (`runPosts`). Bounds how much of
    /// one group commit a single connection takes.
    static let postsQueuedTogether = 32

    /// The peer's address, for audit entries (the socket's: behind the balancer, the balancer's).
    let source: String?
    /// Ties this connection's log lines together (LogContext); random, never the session's.
    let connectionID = LogContext.newID()

    /// When the WebSocket upgrade was accepted: the start of handshake+auth time (metrics).
    private let openedAt = NIODeadline.now()

    init(context: NodeContext, source: String? = nil) {
        self.context = context
        self.source = source
    }

    var session: SessionRecord? { state.withLock { $0.machine.session } }
    var isTransportClosed: Bool { state.withLock { $0.machine.isTransportClosed } }

    // MARK: WebSocketMessageDelegate (on the event loop)

    func webSocketDidOpen(_ connection: WebSocketConnection) {
        self.connection = connection
        certificateFingerprint = ClientCertificate.fingerprint(of: connection.channel)
        context.connections.add(self)
        authTimer = connection.eventLoop.scheduleTask(in: context.configuration.authTimeout) { [self] in
            apply(state.withLock { $0.machine.authDeadlineReached() })
        }
    }

    func webSocket(_ connection: WebSocketConnection, didReceiveText text: String) {
        let request: ClientRequest
        do {
            request = try ClientRequest.parse(text)
        } catch {
            reply(ServerMessage.error(re: error.re, code: error.code, message: error.message))
            if error.code == .badRequest {
                apply(state.withLock { $0.machine.malformedMessage(nowMillis: context.clock.nowMillis) })
            }
            return
        }
        let (open, idle) = state.withLock { ($0.machine.isTransportClosed == false, $0.inbox.isIdle) }
        guard open else { return }
        if idle, LogContext.$connection.withValue(connectionID, operation: { runInline(request) }) { return }
        let isAuth = if case .auth = request.command { true } else { false }
        let enqueued = state.withLock { state in
            let enqueued = state.inbox.enqueue(request, limit: Self.maxQueuedRequests)
            // Counted from its arrival, under the same lock as the queue (the task may take it at
            // once): an `auth` that arrived before the deadline is waited for.
            if isAuth && enqueued != .full { _ = state.machine.authReceived() }
            return enqueued
        }
        switch enqueued {
        case .full:
            reply(ServerMessage.error(re: request.id, code: .rateLimited,
                                      message: "too many requests in flight; wait for replies"))
        case .queued:
            break
        case .startDraining:
            Task { [self] in await LogContext.$connection.withValue(connectionID) { await drainInbox() } }
        }
    }

    func webSocket(_ connection: WebSocketConnection, didReceiveBinary data: ByteBuffer) {
        // The WebSocket layer closes with 1003 before this is reached on /v1/ws.
        connection.close(code: .unacceptableData, reason: "binary frames are not accepted")
    }

    func webSocketDidClose(_ connection: WebSocketConnection) {
        // Requests already queued still run (a post sent just before the close is committed or
        // refused as before; the client learns its fate by resuming with `since`).
        apply(state.withLock { $0.machine.transportClosed() })
    }

    // MARK: endings from outside

    /// The node is leaving: `reconnect` with a jittered delay, then close 1001.
    func drain(afterMillis: Int) {
        apply(state.withLock { $0.machine.drain(afterMillis: afterMillis) })
    }

    /// The session was revoked (logout, disable) or expired.
    func sessionEnded(_ cause: ConnectionEnding.SessionEndCause) {
        apply(state.withLock { $0.machine.sessionEnded(cause) })
    }

    func reply(_ bytes: [UInt8]) {
        connection.send(SharedFrame(text: ByteBuffer(bytes: bytes)))
    }

    /// Carries out the machine's actions, outside the lock, from any thread.
    private func apply(_ actions: [SessionStateMachine<SessionRecord>.Action]) {
        for action in actions {
            switch action {
            case .cancelAuthTimer:
                connection.eventLoop.execute { [self] in
                    authTimer?.cancel()
                    authTimer = nil
                }
            case .register:
                if let session { context.connections.bind(self, to: session) }
            case .sendReconnect(let afterMillis):
                reply(ServerMessage.reconnect(reason: "draining", afterMillis: afterMillis))
            case .close(let ending):
                if ending == .authTimeout { context.metrics.refused(.authentication) }
                let (code, reason) = WireMapping.close(ending)
                connection.close(code: code, reason: reason)
            case .leaveRegistries:
                leaveRegistries()
            }
        }
    }

    /// The transport is gone: out of the connection registry, every subscription ended.
    private func leaveRegistries() {
        connection.eventLoop.execute { [self] in
            authTimer?.cancel()
            authTimer = nil
        }
        let (session, subscriptions) = state.withLock { state in
            defer { state.subscriptions = [:] }
            return (state.machine.session, Array(state.subscriptions.values))
        }
        context.connections.remove(self, session: session?.id)
        for subscription in subscriptions {
            context.hub.remove(subscription)
            subscription.eventLoop.execute { subscription.end() }
        }
    }

    // MARK: requests (on the connection's drain task)

    /// Runs queued requests in order until the inbox is empty (one at a time, but a run of
    /// consecutive posts together: `runPosts`), then ends; the inbox turns
    /// idle on the event loop, behind this task's last reply (`RequestInbox.next`).
    private func drainInbox() async {
        while true {
            let taken = state.withLock { $0.inbox.nextRun(limit: Self.postsQueuedTogether, together: \.command.isPost) }
            guard let first = taken.first else { break }
            if first.command.isPost {
                await runPosts(taken)
            } else {
                await run(first)
            }
        }
        connection.eventLoop.execute { [self] in
            if state.withLock({ $0.inbox.finishDraining() }) {
                Task { [self] in await LogContext.$connection.withValue(connectionID) { await drainInbox() } }
            }
        }
    }

    /// Runs consecutive posts of this connection together: each is queued for the group commit
    /// at once, in the order sent, then each is answered in that order once committed. One by one,
    /// every post waited for the commit of the one before, so a client with many posts in flight
    /// (an outbox sent on reconnect, the load client) got one post per commit, and a node's
    /// commits carried at most one post per connection (docs/architecture.md, "Posts in flight").
    /// The session is checked as each post is queued: one revoked meanwhile refuses the posts
    /// still in the inbox, while those already queued commit, as a post in flight did before.
    private func runPosts(_ requests: [ClientRequest]) async {
        var queued: [Result<QueuedPost, any Error>] = []
        for request in requests {
            queued.append(Result { try queuePost(request, as: try admittedUser()) })
        }
        for (request, post) in zip(requests, queued) {
            do {
                try await finishPost(post.get())
                context.metrics.request(request.command.operationName, outcome: "ok")
            } catch {
                replyFailure(error, to: request)
            }
        }
    }

    private func run(_ request: ClientRequest) async {
        do {
            if case .auth(let token) = request.command {
                return authenticate(request.id, token: token)
            }
            let user = try admittedUser()
            try await perform(request, as: user)
            context.metrics.request(request.command.operationName, outcome: "ok")
        } catch {
            replyFailure(error, to: request)
        }
    }

    private func admittedUser() throws -> UserRecord {
        switch state.withLock({ $0.machine.admit(nowMillis: context.clock.nowMillis) }) {
        case .proceed(let session):
            context.activity.used(session)
            return session.user
        case .notAuthenticated: throw HubError.unauthenticated("send auth first")
        case .expired: throw HubError.unauthenticated("the session has expired")
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
            _ = state.withLock { $0.machine.authReceived() }
            authenticate(request.id, token: token)
            return true
        case .subscribe(let timeline, let since):
            guard let user = try? admittedUser() else { return false }
            // A first read of the timeline by this session waits for its audit entry: the inbox.
            guard let session, context.patientReads.isRecorded(session: session.id, timeline: timeline) else { return false }
            do {
                try subscribeRecorded(request.id, timeline: timeline, since: since, user: user)
                context.metrics.request("subscribe", outcome: "ok")
            } catch {
                replyFailure(error, to: request)
            }
            return true
        default:
            return false
        }
    }

    func replyFailure(_ error: any Error, to request: ClientRequest) {
        let (code, message) = context.failure(error, operation: request.command.operationName)
        context.metrics.request(request.command.operationName, outcome: code.rawValue)
        reply(ServerMessage.error(re: request.id, code: code, message: message))
    }

    /// On the event loop (`runInline`) or the request task; the store read runs on that thread.
    /// The `auth` was counted on arrival (`SessionStateMachine.authReceived`).
    private func authenticate(_ id: Int64, token: String) {
        let request = ClientRequest(id: id, command: .auth(token: token))
        if state.withLock({ $0.machine.isAuthenticated }) {
            replyFailure(HubError.badRequest("already authenticated"), to: request)
            return apply(state.withLock { $0.machine.authFailed() })
        }
        let record: SessionRecord
        do {
            switch try context.sessions.authenticate(token: token, certificateFingerprint: certificateFingerprint) {
            case .live(let live, _):
                record = live
                context.activity.used(live)
            case .unknownToken:
                throw HubError.unauthenticated("the token is not a live session")
            case .clientCertificateRequired:
                throw HubError.certificateRequired
            }
        } catch {
            // The error goes out before a close that the refusal may cause (4001 past the deadline).
            replyFailure(error, to: request)
            return apply(state.withLock { $0.machine.authFailed() })
        }
        let actions = state.withLock { $0.machine.authSucceeded(record, expiresAtMillis: record.expiresAtMillis) }
        guard !actions.isEmpty else {
            // The connection is ending (drained or closed while the token was checked).
            return replyFailure(HubError(code: .unavailable, message: "the connection is closing"), to: request)
        }
        apply(actions)
        context.metrics.handshakeAuthSeconds.record(Double((NIODeadline.now() - openedAt).nanoseconds) / 1e9)
        let nodeID = context.nodeID.rawValue
        reply(ServerMessage.ok(re: id) { w in
            w.key("user")
            record.user.writeSummary(into: &w)
            w.field("node", nodeID)
        })
        // Notices in force for this user follow the reply (docs/protocol.md, "Notices").
        for notice in context.noticeBoard.current(for: record.user) { reply(notice.frame) }
    }

    // MARK: subscriptions

    /// A new subscription in this connection's table; refused if one is live already.
    func addSubscription(timeline: TimelineID, user: UserID) throws -> Subscription {
        let subscription = Subscription(timeline: timeline, user: user, connection: connection) { [weak self] stopped, why in
            self?.subscriptionStopped(stopped, why)
        }
        let inserted = state.withLock { state in
            if state.subscriptions[timeline] != nil { return false }
            state.subscriptions[timeline] = subscription
            return true
        }
        guard inserted else { throw HubError.conflict("already subscribed to this timeline; unsubscribe first") }
        return subscription
    }

    /// Takes the subscription out of this connection's table; false when it was not there.
    @discardableResult
    func removeSubscription(_ subscription: Subscription) -> Bool {
        state.withLock { state in
            guard state.subscriptions[subscription.timeline] === subscription else { return false }
            state.subscriptions[subscription.timeline] = nil
            return true
        }
    }

    func removeSubscription(timeline: TimelineID) -> Subscription? {
        state.withLock { $0.subscriptions.removeValue(forKey: timeline) }
    }

    /// On the event loop: a subscription stopped on its own.
    private func subscriptionStopped(_ subscription: Subscription, _ why: Subscription.Stop) {
        removeSubscription(subscription)
        context.hub.remove(subscription)
        switch why {
        case .removedFromTimeline: break
        case .slowConsumer:
            context.metrics.slowConsumerCloses.increment()
            apply(state.withLock { $0.machine.slowConsumer() })
        case .storeUnavailable: apply(state.withLock { $0.machine.storeUnavailable() })
        }
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

    var isPost: Bool {
        if case .post = self { true } else { false }
    }
}
