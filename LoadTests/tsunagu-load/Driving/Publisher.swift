import NIOCore
import TsunaguClient
import TsunaguWebSocket

/// One publisher connection: auth, then posts (paced by `Pacing`), cycling over the timelines, and
/// records post→ack latency and the highest acknowledged seq per timeline. With `target.reconnect`
/// it reconnects after a loss and re-sends every unanswered post with its original `client_msg_id`
/// (posts are idempotent per client_msg_id, so a retry never creates a second event).
/// Lives on its loop.
final class Publisher: LoadConnectionOwner {
    /// A post sent and not yet answered: its text is kept for a retry.
    private struct Pending {
        var sentNs: UInt64
        var timeline: Int
        var text: ByteBuffer
    }

    let index: Int
    private let timelines: [String]
    private let timelineJSON: [String]
    private let target: Target
    private let localAddress: String?
    private let loop: any EventLoop
    private let stats: LoopStats
    private let ready: EventLoopPromise<Void>
    private var readySettled = false
    private var connection: WebSocketClient?
    private var generation = 0
    private var authenticated = false
    private var nextID = 2
    private var sent = 0
    private var inflight: [Int: Pending] = [:]
    private var ticker: RepeatedTask?
    private var postingStartNs: UInt64 = 0
    private var pacing: Pacing?
    private var closing = false
    private var portTurn: Int
    private var backoff = ReconnectBackoff()

    var inflightCount: Int { inflight.count }

    private init(index: Int, timelines: [String], target: Target, localAddress: String?, loop: any EventLoop,
                 stats: LoopStats, ready: EventLoopPromise<Void>) {
        self.index = index
        self.timelines = timelines
        self.timelineJSON = timelines.map { JSONValue.string($0).serialized() }
        self.target = target
        self.localAddress = localAddress
        self.loop = loop
        self.stats = stats
        self.ready = ready
        self.portTurn = index
    }

    /// Connects and authenticates on `loop` (call on `loop`).
    static func start(index: Int, timelines: [String], target: Target, localAddress: String?,
                      loop: any EventLoop, board: StatsBoard) -> EventLoopFuture<NIOLoopBound<Publisher>> {
        let stats = board.stats(on: loop)
        let ready = loop.makePromise(of: Void.self)
        let publisher = Publisher(index: index, timelines: timelines, target: target, localAddress: localAddress,
                                  loop: loop, stats: stats, ready: ready)
        let bound = NIOLoopBound(publisher, eventLoop: loop)
        stats.publishers.append(publisher)
        let setupTimeout = loop.assumeIsolated().scheduleTask(in: .seconds(30)) {
            bound.value.settleReady(LoadError("publisher \(index): no answer to auth within 30 s"))
            bound.value.finish()
        }
        ready.futureResult.whenComplete { _ in setupTimeout.cancel() }
        publisher.open()
        return ready.futureResult.map { bound }
    }

    private func open() {
        generation += 1
        let attempt = generation
        let bound = NIOLoopBound(self, eventLoop: loop)
        target.connect(turn: portTurn, localAddress: localAddress, attempt: attempt, owner: bound).assumeIsolated().whenComplete { result in
            let publisher = bound.value
            switch result {
            case .success(let connection):
                guard attempt == publisher.generation, !publisher.closing else { return connection.close() }
                publisher.connection = connection
                connection.send(#"{"type":"auth","id":1,"token":\#(JSONValue.string(publisher.target.token))}"#)
            case .failure(let error):
                guard attempt == publisher.generation else { return }
                if publisher.readySettled && publisher.target.reconnect {
                    publisher.scheduleReconnect()
                } else {
                    publisher.settleReady(LoadError("publisher \(publisher.index): connect: \(error)"))
                }
            }
        }
    }

    private func settleReady(_ error: (any Error)? = nil) {
        guard !readySettled else { return }
        readySettled = true
        if let error { ready.fail(error) } else { ready.succeed(()) }
    }

    /// Posts as `pacing` says until `stop()`.
    func startPosting(_ pacing: Pacing) {
        self.pacing = pacing
        postingStartNs = monotonicNanoseconds()
        switch pacing {
        case .rate(let ratePerSecond):
            guard ratePerSecond > 0 else { return }
            // Tick often enough for smooth pacing, never more than 1000 times a second.
            let intervalNs = max(1_000_000, min(10_000_000, Int64(1e9 / ratePerSecond)))
            let bound = NIOLoopBound(self, eventLoop: loop)
            ticker = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .nanoseconds(intervalNs)) { _ in
                bound.value.tick()
            }
        case .window:
            fillWindow()
        }
    }

    private func tick() {
        guard let connection, authenticated, !closing, case .rate(let ratePerSecond) = pacing else { return }
        let now = monotonicNanoseconds()
        let due = Int(Double(now - postingStartNs) / 1e9 * ratePerSecond) - sent
        // After a stall (or an outage), catch up gradually rather than in one burst.
        let count = min(due, max(100, Int(ratePerSecond / 10)))
        guard count > 0 else { return }
        for _ in 0..<count { post(on: connection) }
        connection.flush()
    }

    /// Closed loop: top the window up to its size.
    private func fillWindow() {
        guard let connection, authenticated, !closing, case .window(let size) = pacing else { return }
        var posted = false
        while inflight.count < size {
            post(on: connection)
            posted = true
        }
        if posted { connection.flush() }
    }

    private func post(on connection: WebSocketClient) {
        let id = nextID
        nextID += 1
        let t = (index + sent) % timelines.count
        sent += 1
        let sendNs = monotonicNanoseconds()
        let text = ByteBuffer(string: #"{"type":"post","id":\#(id),"timeline":\#(timelineJSON[t]),"body":"load \#(index)-\#(sent) \#(sendNs)","client_msg_id":"\#(makeUUID())"}"#)
        inflight[id] = Pending(sentNs: sendNs, timeline: t, text: text)
        connection.send(text, flush: false)
        stats.counts.postsSent += 1
    }

    func stop() {
        ticker?.cancel()
        ticker = nil
        pacing = nil
    }

    func finish() {
        stop()
        closing = true
        connection?.close()
    }

    func received(_ message: ByteBuffer, attempt: Int) {
        guard attempt == generation else { return }
        guard let f = MessageFields.scan(message) else {
            stats.counts.unparsable += 1
            return
        }
        guard let re = f.re else {
            if f.type == "reconnect" {
                stats.counts.reconnectRequests += 1
                if target.reconnect && authenticated { connectionLost() }
            }
            return
        }
        if re == 1 {
            if f.type == "ok" {
                authenticated = true
                backoff.reset()
                settleReady()
                resendUnanswered()
                fillWindow()
            } else if readySettled && target.reconnect {
                scheduleReconnect()
            } else {
                settleReady(LoadError("publisher \(index): auth refused: \(f.code ?? "?")"))
            }
            return
        }
        guard let post = inflight[re] else { return }
        if f.type == "ok", let seq = f.seq {
            inflight[re] = nil
            stats.counts.postsAcked += 1
            stats.counts.ack.recordNanoseconds(monotonicNanoseconds() - post.sentNs)
            let timeline = timelines[post.timeline]
            if seq > stats.counts.highestAcked[timeline, default: Int.min] { stats.counts.highestAcked[timeline] = seq }
            fillWindow()
        } else if f.code == "unavailable" && target.reconnect {
            // This node is leaving: the post stays pending and goes again on the next connection.
            connectionLost()
        } else {
            inflight[re] = nil
            stats.counts.postErrors[f.code ?? "unknown", default: 0] += 1
            fillWindow()
        }
    }

    /// After a reconnect: every unanswered post again, same id and client_msg_id, oldest first.
    private func resendUnanswered() {
        guard let connection, !inflight.isEmpty else { return }
        for id in inflight.keys.sorted() { connection.send(inflight[id]!.text, flush: false) }
        connection.flush()
        stats.counts.postRetries += inflight.count
    }

    func closed(code: UInt16?, reason: String, attempt: Int) {
        guard attempt == generation, !closing else { return }
        if !readySettled {
            settleReady(LoadError("publisher \(index): closed before auth: code \(code.map(String.init) ?? "none") \(reason)"))
        } else if target.reconnect {
            connectionLost()
        } else {
            stats.counts.unexpectedCloses += 1
            stats.noteError("publisher \(index) closed by server: code \(code.map(String.init) ?? "none") \(reason)")
            stop()
        }
    }

    private func connectionLost() {
        stats.counts.publisherReconnects += 1
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        authenticated = false
        generation += 1
        connection?.close()
        connection = nil
        portTurn += 1
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.assumeIsolated().scheduleTask(in: backoff.nextDelay()) {
            if !bound.value.closing { bound.value.open() }
        }
    }
}

/// A random (version 4) UUID in its usual text form.
func makeUUID() -> String {
    var g = SystemRandomNumberGenerator()
    var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
    bytes[6] = bytes[6] & 0x0F | 0x40
    bytes[8] = bytes[8] & 0x3F | 0x80
    let hex = Array("0123456789abcdef")
    var s = ""
    s.reserveCapacity(36)
    for (i, b) in bytes.enumerated() {
        if i == 4 || i == 6 || i == 8 || i == 10 { s.append("-") }
        s.append(hex[Int(b >> 4)])
        s.append(hex[Int(b & 0x0F)])
    }
    return s
}
