import NIOCore
import TsunaguClient

/// One publisher connection: auth, then posts at its share of the rate, cycling over the timelines,
/// and records post→ack latency and the highest acknowledged seq per timeline. Lives on its loop.
final class Publisher {
    let index: Int
    private let timelines: [String]
    private let timelineJSON: [String]
    private let stats: LoopStats
    private let ready: EventLoopPromise<Void>
    private var connection: LoadConnection?
    private var authenticated = false
    private var nextID = 2
    private var sent = 0
    private var inflight: [Int: (sentNs: UInt64, timeline: Int)] = [:]
    private var ticker: RepeatedTask?
    private var postingStartNs: UInt64 = 0
    private var ratePerSecond = 0.0
    private var closing = false

    var inflightCount: Int { inflight.count }

    private init(index: Int, timelines: [String], stats: LoopStats, ready: EventLoopPromise<Void>) {
        self.index = index
        self.timelines = timelines
        self.timelineJSON = timelines.map { JSONValue.string($0).serialized() }
        self.stats = stats
        self.ready = ready
    }

    /// Connects and authenticates on `loop` (call on `loop`).
    static func start(index: Int, timelines: [String], target: Target, localAddress: String?,
                      loop: any EventLoop, board: StatsBoard) -> EventLoopFuture<NIOLoopBound<Publisher>> {
        let stats = board.stats(on: loop)
        let ready = loop.makePromise(of: Void.self)
        let publisher = Publisher(index: index, timelines: timelines, stats: stats, ready: ready)
        let bound = NIOLoopBound(publisher, eventLoop: loop)
        stats.publishers.append(publisher)
        let setupTimeout = loop.assumeIsolated().scheduleTask(in: .seconds(30)) {
            bound.value.ready.fail(LoadError("publisher \(index): no answer to auth within 30 s"))
            bound.value.finish()
        }
        ready.futureResult.whenComplete { _ in setupTimeout.cancel() }
        LoadConnection.connect(
            host: target.host, port: target.port, path: target.path, offerCompression: target.compression,
            localAddress: localAddress, group: loop,
            onText: { bound.value.received($0) },
            onClose: { code, reason in bound.value.closed(code: code, reason: reason) }
        ).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let connection):
                bound.value.connection = connection
                connection.send(#"{"type":"auth","id":1,"token":\#(JSONValue.string(target.token))}"#)
            case .failure(let error):
                bound.value.ready.fail(LoadError("publisher \(index): connect: \(error)"))
            }
        }
        return ready.futureResult.map { bound }
    }

    /// Posts `ratePerSecond` messages per second until `stop()`.
    func startPosting(ratePerSecond: Double, on loop: any EventLoop) {
        guard ratePerSecond > 0 else { return }
        self.ratePerSecond = ratePerSecond
        postingStartNs = monotonicNanoseconds()
        // Tick often enough for smooth pacing, never more than 1000 times a second.
        let intervalNs = max(1_000_000, min(10_000_000, Int64(1e9 / ratePerSecond)))
        let bound = NIOLoopBound(self, eventLoop: loop)
        ticker = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .nanoseconds(intervalNs)) { _ in
            bound.value.tick()
        }
    }

    private func tick() {
        guard let connection, authenticated, !closing else { return }
        let now = monotonicNanoseconds()
        let due = Int(Double(now - postingStartNs) / 1e9 * ratePerSecond) - sent
        // After a stall, catch up gradually rather than in one burst.
        let count = min(due, max(100, Int(ratePerSecond / 10)))
        guard count > 0 else { return }
        for _ in 0..<count {
            let id = nextID
            nextID += 1
            let t = (index + sent) % timelines.count
            sent += 1
            let sendNs = monotonicNanoseconds()
            inflight[id] = (sendNs, t)
            let text = #"{"type":"post","id":\#(id),"timeline":\#(timelineJSON[t]),"body":"load \#(index)-\#(sent) \#(sendNs)","client_msg_id":"\#(makeUUID())"}"#
            connection.send(ByteBuffer(string: text), flush: false)
        }
        connection.flush()
        stats.counts.postsSent += count
    }

    func stop() {
        ticker?.cancel()
        ticker = nil
    }

    func finish() {
        stop()
        closing = true
        connection?.close()
    }

    func received(_ message: ByteBuffer) {
        guard let f = MessageFields.scan(message) else {
            stats.counts.unparsable += 1
            return
        }
        guard let re = f.re else {
            if f.type == "reconnect" { stats.counts.reconnectRequests += 1 }
            return
        }
        if re == 1 {
            if f.type == "ok" {
                authenticated = true
                ready.succeed(())
            } else {
                ready.fail(LoadError("publisher \(index): auth refused: \(f.code ?? "?")"))
            }
            return
        }
        guard let post = inflight.removeValue(forKey: re) else { return }
        if f.type == "ok", let seq = f.seq {
            stats.counts.postsAcked += 1
            stats.counts.ack.recordNanoseconds(monotonicNanoseconds() - post.sentNs)
            let timeline = timelines[post.timeline]
            if seq > stats.counts.highestAcked[timeline, default: Int.min] { stats.counts.highestAcked[timeline] = seq }
        } else {
            stats.counts.postErrors[f.code ?? "unknown", default: 0] += 1
        }
    }

    func closed(code: UInt16?, reason: String) {
        if !authenticated {
            ready.fail(LoadError("publisher \(index): closed before auth: code \(code.map(String.init) ?? "none") \(reason)"))
        } else if !closing {
            stats.counts.unexpectedCloses += 1
            stats.noteError("publisher \(index) closed by server: code \(code.map(String.init) ?? "none") \(reason)")
        }
        stop()
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
