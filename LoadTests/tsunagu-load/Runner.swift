import NIOCore
import NIOPosix
import TsunaguClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one load test from validated options; returns the report.
struct Runner {
    let options: TsunaguLoad
    let log: @Sendable (String) -> Void

    func run() async throws -> RunReport {
        raiseFileLimit()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.eventLoops)
        do {
            let report = try await run(group: group)
            try? await group.shutdownGracefully()
            return report
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func run(group: MultiThreadedEventLoopGroup) async throws -> RunReport {
        let http = TsunaguHTTPClient(host: options.connectHost, port: options.port, group: group)
        let token = try await sessionToken(http)
        try await preflight(group: group, token: token)
        let timelines = try await prepareTimelines(http, token: token)
        let target = Target(host: options.connectHost, port: options.port, path: options.path, token: token,
                            compression: options.compression)
        let board = try await StatsBoard(group: group)
        let sources = options.sourceAddressList
        var sourceIndex = 0
        func nextSource() -> String? {
            guard !sources.isEmpty else { return nil }
            defer { sourceIndex += 1 }
            return sources[sourceIndex % sources.count]
        }

        // 1. Subscribers, paced by --ramp.
        let clock = ContinuousClock()
        let connectStart = clock.now
        log("connecting \(options.connections) subscribers to \(timelines.count) timeline(s) at \(Int(options.ramp))/s")
        var pending: [EventLoopFuture<Void>] = []
        var failedWhileConnecting = 0
        let maxConcurrentHandshakes = 1000
        var lastProgress = clock.now
        for i in 0..<options.connections {
            let due = connectStart + .seconds(Double(i) / options.ramp)
            if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            if pending.count >= maxConcurrentHandshakes {
                let oldest = pending.removeFirst()
                do { try await oldest.get() } catch { failedWhileConnecting += 1 }
            }
            let loop = group.next()
            let timeline = timelines[i % timelines.count]
            let source = nextSource()
            pending.append(loop.flatSubmit {
                Subscriber.start(index: i, timeline: timeline, target: target, localAddress: source, loop: loop, board: board)
            })
            if clock.now - lastProgress >= .seconds(1), !options.quiet {
                lastProgress = clock.now
                log("  \(i + 1)/\(options.connections) connecting")
            }
        }
        for future in pending {
            do { try await future.get() } catch { failedWhileConnecting += 1 }
        }
        let connectElapsed = clock.now - connectStart
        let afterConnect = try await board.snapshot(withHistograms: false)
        log("subscribed \(afterConnect.subscribed)/\(options.connections) in \(format(connectElapsed))"
            + (afterConnect.connectFailures > 0 ? ", \(afterConnect.connectFailures) failed (\(afterConnect.errorSamples.first ?? ""))" : ""))

        // 2. Publishers.
        var publishers: [NIOLoopBound<Publisher>] = []
        for p in 0..<options.publishers {
            let loop = group.next()
            let source = nextSource()
            let publisher = try await loop.flatSubmit {
                Publisher.start(index: p, timelines: timelines, target: target, localAddress: source, loop: loop, board: board)
            }.get()
            publishers.append(publisher)
        }

        // 3. Post for --duration, with a progress line every second.
        let ratePerPublisher = options.publishers > 0 ? options.rate / Double(options.publishers) : 0
        for publisher in publishers {
            let loop = publisher.eventLoop
            try await loop.submit { publisher.value.startPosting(ratePerSecond: ratePerPublisher, on: loop) }.get()
        }
        let runStart = clock.now
        let runEnd = runStart + .seconds(options.duration)
        var previous = try await board.snapshot(withHistograms: false)
        var previousTime = clock.now
        while clock.now < runEnd {
            try await Task.sleep(until: min(runEnd, clock.now + .seconds(1)), clock: clock)
            let now = clock.now
            let snapshot = try await board.snapshot(withHistograms: !options.quiet)
            if !options.quiet {
                log(progressLine(snapshot, previous: previous, interval: now - previousTime, elapsed: now - runStart))
            }
            previous = snapshot
            previousTime = now
        }
        for publisher in publishers {
            try await publisher.eventLoop.submit { publisher.value.stop() }.get()
        }
        let postingElapsed = clock.now - runStart

        // 4. Grace: wait for outstanding acks, then for every acked seq to reach every subscriber.
        let graceEnd = clock.now + .seconds(options.grace)
        var snapshot = try await board.snapshot(withHistograms: false)
        while snapshot.inflightPosts > 0 && clock.now < graceEnd {
            try await Task.sleep(for: .milliseconds(100))
            snapshot = try await board.snapshot(withHistograms: false)
        }
        var loss = try await checkLoss(board, highestAcked: snapshot.highestAcked)
        while loss.missing > 0 && clock.now < graceEnd {
            try await Task.sleep(for: .milliseconds(200))
            snapshot = try await board.snapshot(withHistograms: false)
            loss = try await checkLoss(board, highestAcked: snapshot.highestAcked)
        }
        let final = try await board.snapshot(withHistograms: true)
        loss = try await checkLoss(board, highestAcked: final.highestAcked)

        // 5. Close everything.
        _ = try await board.onEveryLoop { stats in
            for s in stats.subscribers { s.finish() }
            for p in stats.publishers { p.finish() }
            return 0
        }
        try? await Task.sleep(for: .milliseconds(300))

        return RunReport(options: options, timelines: timelines.count, stats: final, loss: loss,
                         connectFailures: max(final.connectFailures, failedWhileConnecting),
                         connectSeconds: connectElapsed.seconds, postingSeconds: postingElapsed.seconds)
    }

    private func checkLoss(_ board: StatsBoard, highestAcked: [String: Int]) async throws -> LossReport {
        let parts = try await board.onEveryLoop { stats in
            LossChecker.check(stats.subscribers.compactMap { s in s.tracker.map { (timeline: s.timeline, tracker: $0) } },
                              highestAcked: highestAcked)
        }
        return parts.reduce(LossReport(), +)
    }

    /// One WebSocket connection and auth before the crowd: a clear error when the endpoint or token is wrong.
    private func preflight(group: any EventLoopGroup, token: String) async throws {
        let url = "ws://\(options.host):\(options.port)\(options.path)"
        let probe: TsunaguConnection
        do {
            probe = try await TsunaguConnection.connect(host: options.connectHost, port: options.port, path: options.path,
                                                        offerCompression: options.compression, group: group)
        } catch {
            throw LoadError("cannot open \(url): \(error)")
        }
        let reply: JSONObject
        do {
            reply = try await probe.request(["type": "auth", "token": .string(token)], timeout: .seconds(10))
        } catch {
            await probe.close()
            throw LoadError("auth on \(url) failed: \(error)")
        }
        await probe.close()
        guard reply["type"] == "ok" else {
            throw LoadError("auth on \(url) refused: \(reply["code"]?.stringValue ?? "?") \(reply["message"]?.stringValue ?? "")")
        }
    }

    private func sessionToken(_ http: TsunaguHTTPClient) async throws -> String {
        if let token = options.token { return token }
        let reply: HTTPReply
        do {
            reply = try await http.send("POST", "/v1/sessions",
                                        json: ["email": .string(options.email ?? ""), "password": .string(options.password ?? "")])
        } catch {
            throw LoadError("cannot reach \(options.host):\(options.port): \(error)")
        }
        guard reply.status == 201 || reply.status == 200, let token = reply.json?["token"]?.stringValue else {
            throw LoadError("login as \(options.email ?? "") failed: HTTP \(reply.status) \(reply.text.prefix(200))")
        }
        return token
    }

    private func prepareTimelines(_ http: TsunaguHTTPClient, token: String) async throws -> [String] {
        guard let k = options.createTimelines else { return options.timelines }
        var ids: [String] = []
        let stamp = monotonicNanoseconds() / 1_000_000
        for i in 0..<k {
            let reply = try await http.send("POST", "/v1/timelines",
                                            json: ["title": "load \(stamp)-\(i)", "kind": "group"], token: token)
            guard reply.status == 201 || reply.status == 200, let id = reply.json?["id"]?.stringValue else {
                throw LoadError("creating a timeline failed: HTTP \(reply.status) \(reply.text.prefix(200))")
            }
            ids.append(id)
        }
        log("created \(k) timeline(s)")
        return ids
    }

    private func progressLine(_ s: StatsSnapshot, previous: StatsSnapshot, interval: Duration, elapsed: Duration) -> String {
        let seconds = max(interval.seconds, 0.001)
        let deliveries = Double(s.delivered - previous.delivered) / seconds
        let posts = Double(s.postsAcked - previous.postsAcked) / seconds
        var line = "[\(String(format1: elapsed.seconds))s] subs \(s.subscribed) sent \(s.postsSent) acked \(s.postsAcked)"
        line += " (\(Int(posts.rounded()))/s) delivered \(s.delivered) (\(Int(deliveries.rounded()))/s)"
        if s.delivery.totalCount > 0 {
            line += " deliver p50 \(micros(s.delivery.valueAtPercentile(50))) p99 \(micros(s.delivery.valueAtPercentile(99)))"
        }
        if s.postErrorCount > 0 { line += " post errors \(s.postErrorCount)" }
        if s.unexpectedCloses > 0 { line += " closed \(s.unexpectedCloses)" }
        return line
    }

    /// Many connections need many descriptors: lift the soft limit to the hard one.
    private func raiseFileLimit() {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            if setrlimit(resource, &limit) != 0 { _ = getrlimit(resource, &limit) }
        }
        if options.connections + options.publishers + 64 > Int(clamping: limit.rlim_cur) {
            log("warning: the open-file limit (\(limit.rlim_cur)) is below --connections + --publishers")
        }
    }
}

func micros(_ us: UInt64) -> String {
    us >= 10_000 ? "\(String(format1: Double(us) / 1000))ms" : "\(us)µs"
}

func format(_ d: Duration) -> String { "\(String(format1: d.seconds))s" }

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

extension String {
    /// One decimal place, without Foundation.
    init(format1 value: Double) {
        let tenths = (value * 10).rounded()
        let whole = Int(tenths / 10)
        let frac = Int(abs(tenths).truncatingRemainder(dividingBy: 10))
        self = "\(tenths < 0 && whole == 0 ? "-" : "")\(whole).\(frac)"
    }
}
