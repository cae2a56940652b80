import NIOCore
import TsunaguClient

/// Everything a connection needs to reach the server.
struct Target: Sendable {
    var host: String
    var port: Int
    var path: String
    var token: String
    var compression: Bool
}

/// One subscriber connection: auth, subscribe to one timeline, then count and time every event.
/// Lives on its connection's event loop.
final class Subscriber {
    enum State { case connecting, authenticating, subscribing, live, closed }

    let index: Int
    let timeline: String
    private let stats: LoopStats
    private let ready: EventLoopPromise<Void>
    private let startNs: UInt64
    private(set) var state = State.connecting
    private(set) var tracker: SeqTracker?
    private var early: [Int] = []
    var connection: LoadConnection?

    private init(index: Int, timeline: String, stats: LoopStats, ready: EventLoopPromise<Void>) {
        self.index = index
        self.timeline = timeline
        self.stats = stats
        self.ready = ready
        self.startNs = monotonicNanoseconds()
    }

    /// Connects on `loop` (call on `loop`); the future completes once subscribed.
    static func start(index: Int, timeline: String, target: Target, localAddress: String?,
                      loop: any EventLoop, board: StatsBoard) -> EventLoopFuture<Void> {
        let stats = board.stats(on: loop)
        let ready = loop.makePromise(of: Void.self)
        let subscriber = Subscriber(index: index, timeline: timeline, stats: stats, ready: ready)
        let bound = NIOLoopBound(subscriber, eventLoop: loop)
        let setupTimeout = loop.assumeIsolated().scheduleTask(in: .seconds(30)) {
            bound.value.fail("no answer to auth/subscribe within 30 s")
        }
        ready.futureResult.whenComplete { _ in setupTimeout.cancel() }
        LoadConnection.connect(
            host: target.host, port: target.port, path: target.path, offerCompression: target.compression,
            localAddress: localAddress, group: loop,
            onText: { bound.value.received($0) },
            onClose: { code, reason in bound.value.closed(code: code, reason: reason) }
        ).assumeIsolated().whenComplete { result in
            let subscriber = bound.value
            switch result {
            case .success(let connection):
                subscriber.connection = connection
                guard subscriber.state == .connecting else { return connection.close() }  // timed out meanwhile
                subscriber.state = .authenticating
                connection.send(#"{"type":"auth","id":1,"token":\#(JSONValue.string(target.token))}"#)
            case .failure(let error):
                subscriber.fail("connect: \(error)")
            }
        }
        return ready.futureResult
    }

    private func fail(_ message: String) {
        guard state != .live && state != .closed else { return }
        state = .closed
        stats.counts.connectFailures += 1
        stats.noteError("subscriber: \(message)")
        ready.fail(LoadError(message))
        connection?.close()
    }

    func received(_ message: ByteBuffer) {
        guard let f = MessageFields.scan(message) else {
            stats.counts.unparsable += 1
            return
        }
        switch f.type {
        case "event":
            guard let seq = f.seq, f.timeline == timeline else { return }
            stats.counts.delivered += 1
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
            stats.counts.connect.recordNanoseconds(monotonicNanoseconds() - startNs)
            state = .subscribing
            connection?.send(#"{"type":"subscribe","id":2,"timeline":\#(JSONValue.string(timeline)),"since":null}"#)
        case "ok" where f.re == 2 && state == .subscribing:
            guard let head = f.head else { return fail("subscribe reply without head") }
            var tracker = SeqTracker(after: head)
            for seq in early { tracker.record(seq) }
            early = []
            self.tracker = tracker
            state = .live
            stats.counts.subscribed += 1
            stats.subscribers.append(self)
            ready.succeed(())
        case "error" where f.re == 1 || f.re == 2:
            fail("\(f.re == 1 ? "auth" : "subscribe") refused: \(f.code ?? "?")")
        case "reconnect":
            stats.counts.reconnectRequests += 1
        default:
            break
        }
    }

    func closed(code: UInt16?, reason: String) {
        switch state {
        case .closed:
            return
        case .live:
            stats.counts.unexpectedCloses += 1
            stats.noteError("subscriber closed by server: code \(code.map(String.init) ?? "none") \(reason)")
            state = .closed
        default:
            fail("closed during setup: code \(code.map(String.init) ?? "none") \(reason)")
        }
    }

    /// Our own close at the end of the run.
    func finish() {
        if state == .live { state = .closed }
        connection?.close()
    }

    /// "load <publisher>-<n> <monotonic send ns>" → the send time.
    static func sendTime(inLoadBody body: String) -> UInt64? {
        guard body.hasPrefix("load "), let space = body.lastIndex(of: " ") else { return nil }
        return UInt64(body[body.index(after: space)...])
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
