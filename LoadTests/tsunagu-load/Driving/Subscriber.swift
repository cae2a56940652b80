import NIOCore
import TsunaguClient
import TsunaguWebSocket

/// One subscriber: auth, subscribe to one timeline, then count and time every event.
/// With `target.reconnect` it survives connection losses: it reconnects to the next port, re-sends
/// `auth` and resubscribes with `since` = the last seq it holds, so the server replays the gap.
/// Lives on its connection's event loop.
final class Subscriber: LoadConnectionOwner {
    enum State { case connecting, authenticating, subscribing, live, waiting, closed }

    let index: Int
    let timeline: String
    private let target: Target
    private let localAddress: String?
    private let loop: any EventLoop
    private let stats: LoopStats
    private let ready: EventLoopPromise<Void>
    private(set) var state = State.connecting
    private(set) var tracker: SeqTracker?
    private var early: [Int] = []
    private var connection: WebSocketClient?
    /// Bumped for every new connection attempt: callbacks of an abandoned connection are ignored.
    private var generation = 0
    private var attemptStartNs: UInt64 = 0
    private var setupTimeout: Scheduled<Void>?
    private var portTurn: Int
    private var backoff = ReconnectBackoff()
    /// When the current outage began (nil while connected, or before the first subscription).
    private(set) var lostAtNs: UInt64?
    /// Seqs at or below this may come again in the replay after a resubscribe; those already held are not duplicates.
    private var replayCeiling = Int.min

    var isDown: Bool { lostAtNs != nil }

    private init(index: Int, timeline: String, target: Target, localAddress: String?, loop: any EventLoop,
                 stats: LoopStats, ready: EventLoopPromise<Void>) {
        self.index = index
        self.timeline = timeline
        self.target = target
        self.localAddress = localAddress
        self.loop = loop
        self.stats = stats
        self.ready = ready
        self.portTurn = index
    }

    /// Connects on `loop` (call on `loop`); the future completes once subscribed the first time.
    static func start(index: Int, timeline: String, target: Target, localAddress: String?,
                      loop: any EventLoop, board: StatsBoard) -> EventLoopFuture<Void> {
        let ready = loop.makePromise(of: Void.self)
        let subscriber = Subscriber(index: index, timeline: timeline, target: target, localAddress: localAddress,
                                    loop: loop, stats: board.stats(on: loop), ready: ready)
        subscriber.open()
        return ready.futureResult
    }

    private var bound: NIOLoopBound<Subscriber> { NIOLoopBound(self, eventLoop: loop) }

    private func open() {
        generation += 1
        let attempt = generation
        let bound = self.bound
        state = .connecting
        attemptStartNs = monotonicNanoseconds()
        setupTimeout = loop.assumeIsolated().scheduleTask(in: .seconds(30)) {
            bound.value.setupFailed(attempt, "no answer to auth/subscribe within 30 s")
        }
        target.connect(turn: portTurn, localAddress: localAddress, attempt: attempt, owner: bound).assumeIsolated().whenComplete { result in
            let subscriber = bound.value
            switch result {
            case .success(let connection):
                guard attempt == subscriber.generation, subscriber.state == .connecting else {
                    return connection.close()  // abandoned meanwhile (timeout or the end of the run)
                }
                subscriber.connection = connection
                subscriber.state = .authenticating
                connection.send(#"{"type":"auth","id":1,"token":\#(JSONValue.string(subscriber.target.token))}"#)
            case .failure(let error):
                subscriber.setupFailed(attempt, "connect: \(error)")
            }
        }
    }

    /// The current attempt did not get to `live`.
    private func setupFailed(_ attempt: Int, _ message: String) {
        guard attempt == generation, state != .live, state != .closed, state != .waiting else { return }
        setupTimeout?.cancel()
        if tracker != nil {
            // A reconnect attempt: keep trying until the run ends; the first few reasons are kept
            // for the report (a storm that does not recover needs to say why).
            stats.counts.reconnectFailures += 1
            stats.noteError("reconnect attempt: \(message)")
            scheduleReconnect()
            return
        }
        state = .closed
        stats.counts.connectFailures += 1
        stats.noteError("subscriber: \(message)")
        ready.fail(LoadError(message))
        connection?.close()
    }

    func received(_ message: ByteBuffer, attempt: Int) {
        guard attempt == generation else { return }
        guard let f = MessageFields.scan(message) else {
            stats.counts.unparsable += 1
            return
        }
        switch f.type {
        case "event":
            guard let seq = f.seq, f.timeline == timeline else { return }
            stats.counts.delivered += 1
            if seq <= replayCeiling, tracker?.has(seq) == true {
                stats.counts.redelivered += 1  // replayed after a resubscribe: already held
                return
            }
            if let body = f.body, let sentNs = Self.sendTime(inLoadBody: body) {
                stats.counts.loadDelivered += 1
                let now = monotonicNanoseconds()
                stats.counts.delivery.recordNanoseconds(now > sentNs ? now - sentNs : 0)
            }
            if tracker != nil {
                tracker!.record(seq)
            } else {
                early.append(seq)
            }
        case "ok" where f.re == 1 && state == .authenticating:
            if tracker == nil { stats.counts.connect.recordNanoseconds(monotonicNanoseconds() - attemptStartNs) }
            state = .subscribing
            // The replay may start before the reply; anything up to what we hold already may come again.
            replayCeiling = tracker?.maxSeen ?? Int.min
            let since = tracker.map { String($0.contiguousThrough) } ?? "null"
            connection?.send(#"{"type":"subscribe","id":2,"timeline":\#(JSONValue.string(timeline)),"since":\#(since)}"#)
        case "ok" where f.re == 2 && state == .subscribing:
            if tracker != nil {
                setupTimeout?.cancel()
                state = .live
                resubscribed()
                return
            }
            guard let head = f.head else { return setupFailed(generation, "subscribe reply without head") }
            setupTimeout?.cancel()
            state = .live
            var tracker = SeqTracker(after: head)
            for seq in early { tracker.record(seq) }
            early = []
            self.tracker = tracker
            stats.counts.subscribed += 1
            stats.subscribers.append(self)
            ready.succeed(())
        case "error" where f.re == 1 || f.re == 2:
            setupFailed(generation, "\(f.re == 1 ? "auth" : "subscribe") refused: \(f.code ?? "?")")
        case "reconnect":
            stats.counts.reconnectRequests += 1
            // A draining node: leave now rather than wait for its close; the replay covers the gap.
            if target.reconnect && state == .live { connectionLost() }
        default:
            break
        }
    }

    func closed(code: UInt16?, reason: String, attempt: Int) {
        guard attempt == generation else { return }
        switch state {
        case .closed, .waiting:
            return
        case .live:
            if target.reconnect { return connectionLost() }
            stats.counts.unexpectedCloses += 1
            stats.noteError("subscriber closed by server: code \(code.map(String.init) ?? "none") \(reason)")
            state = .closed
        default:
            setupFailed(attempt, "closed during setup: code \(code.map(String.init) ?? "none") \(reason)")
        }
    }

    /// A live connection ended (close, dropped TCP, or a `reconnect` request): start the outage clock.
    private func connectionLost() {
        let now = monotonicNanoseconds()
        lostAtNs = now
        stats.counts.connectionLosses += 1
        if now < stats.counts.firstLossNs { stats.counts.firstLossNs = now }
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        state = .waiting
        generation += 1  // whatever the old connection still says is ignored
        connection?.close()
        connection = nil
        portTurn += 1
        let bound = self.bound
        loop.assumeIsolated().scheduleTask(in: backoff.nextDelay()) {
            if bound.value.state == .waiting { bound.value.open() }
        }
    }

    /// Subscribed again after an outage.
    private func resubscribed() {
        backoff.reset()
        let now = monotonicNanoseconds()
        if let lost = lostAtNs { stats.counts.reconnect.recordNanoseconds(now - lost) }
        lostAtNs = nil
        stats.counts.reconnects += 1
        stats.counts.lastRecoveryNs = max(stats.counts.lastRecoveryNs, now)
    }

    /// Our own close at the end of the run.
    func finish() {
        setupTimeout?.cancel()
        let wasOpen = state != .closed && state != .waiting
        state = .closed
        if wasOpen { connection?.close() }
    }

    /// "load <publisher>-<n> <monotonic send ns>" → the send time.
    static func sendTime(inLoadBody body: String) -> UInt64? {
        guard body.hasPrefix("load "), let space = body.lastIndex(of: " ") else { return nil }
        return UInt64(body[body.index(after: space)...])
    }
}
