import NIOCore
import NIOPosix
import TsunaguClient


/// Runs one load test from validated options; returns the report.
struct Runner {
    let options: TsunaguLoad
    let log: @Sendable (String) -> Void

    func run() async throws -> RunReport {
        let local = options.processes > 1 ? 0 : options.connections
        raiseFileLimit(needed: local + options.publishers, log: log)
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
        let ports = options.portList
        let http = TsunaguHTTPClient(host: options.connectHost, port: ports[0], group: group)
        let token = try await sessionToken(http)
        for port in ports { try await preflight(port: port, group: group, token: token) }
        let timelines = try await prepareTimelines(http, token: token)
        let target = Target(host: options.connectHost, ports: ports, path: options.path, token: token,
                            compression: options.compression, reconnect: options.reconnect)
        let sources = options.sourceAddressList
        let share = SubscriberShare(count: options.connections, ramp: options.ramp)
        let fleet: any SubscriberFleet
        if options.processes > 1 {
            fleet = try WorkerFleet(config: WorkerConfig(target: target, timelines: timelines, sourceAddresses: sources,
                                                         share: share, eventLoops: options.eventLoops),
                                    processes: options.processes)
        } else {
            fleet = LocalFleet(group: group, board: try await StatsBoard(group: group), target: target,
                               timelines: timelines, sourceAddresses: sources, share: share,
                               log: options.quiet ? nil : log)
        }
        let board = try await StatsBoard(group: group)  // the publishers'
        func snapshot(withHistograms: Bool) async throws -> StatsSnapshot {
            var total = try await board.snapshot(withHistograms: withHistograms)
            total.merge(try await fleet.snapshot(withHistograms: withHistograms))
            return total
        }

        // 1. Subscribers, paced by --ramp.
        let clock = ContinuousClock()
        let connectStart = clock.now
        log("connecting \(options.connections) subscribers to \(timelines.count) timeline(s) at \(Int(options.ramp))/s"
            + (ports.count > 1 ? " over \(ports.count) ports" : "")
            + (options.processes > 1 ? " in \(options.processes) processes" : ""))
        let failedWhileConnecting = try await fleet.connect()
        let connectElapsed = clock.now - connectStart
        let afterConnect = try await snapshot(withHistograms: false)
        log("subscribed \(afterConnect.subscribed)/\(options.connections) in \(format(connectElapsed))"
            + (afterConnect.connectFailures > 0 ? ", \(afterConnect.connectFailures) failed (\(afterConnect.errorSamples.first ?? ""))" : ""))

        // 2. Publishers (source addresses continue after the subscribers').
        var publishers: [NIOLoopBound<Publisher>] = []
        for p in 0..<options.publishers {
            let loop = group.next()
            let source = target.sourceAddress(from: sources, connection: options.connections + p)
            let publisher = try await loop.flatSubmit {
                Publisher.start(index: p, timelines: timelines, target: target, localAddress: source, loop: loop, board: board)
            }.get()
            publishers.append(publisher)
        }

        // 3. Post for --duration, with a progress line every second.
        let pacing = options.pacing
        for publisher in publishers {
            try await publisher.eventLoop.submit { publisher.value.startPosting(pacing) }.get()
        }
        let runStart = clock.now
        let runEnd = runStart + .seconds(options.duration)
        var previous = try await snapshot(withHistograms: false)
        var previousTime = clock.now
        while clock.now < runEnd {
            try await Task.sleep(until: min(runEnd, clock.now + .seconds(1)), clock: clock)
            let now = clock.now
            let current = try await snapshot(withHistograms: !options.quiet)
            if !options.quiet {
                log(progressLine(current, previous: previous, interval: now - previousTime, elapsed: now - runStart))
            }
            previous = current
            previousTime = now
        }
        for publisher in publishers {
            try await publisher.eventLoop.submit { publisher.value.stop() }.get()
        }
        let postingElapsed = clock.now - runStart

        // 4. Grace: wait for outstanding acks, then for every acked seq to reach every subscriber.
        let graceEnd = clock.now + .seconds(options.grace)
        var current = try await snapshot(withHistograms: false)
        while current.inflightPosts > 0 && clock.now < graceEnd {
            try await Task.sleep(for: .milliseconds(100))
            current = try await snapshot(withHistograms: false)
        }
        var loss = try await fleet.checkLoss(highestAcked: current.highestAcked)
        while loss.missing > 0 && clock.now < graceEnd {
            try await Task.sleep(for: .milliseconds(200))
            current = try await snapshot(withHistograms: false)
            loss = try await fleet.checkLoss(highestAcked: current.highestAcked)
        }
        var final = try await board.snapshot(withHistograms: true)
        loss = try await fleet.checkLoss(highestAcked: final.highestAcked)

        // 5. Close everything.
        final.merge(try await fleet.finish())
        _ = try await board.onEveryLoop { stats in
            for p in stats.publishers { p.finish() }
            return 0
        }
        try? await Task.sleep(for: .milliseconds(300))

        let workerFailures = await fleet.failures()
        return RunReport(options: options, timelines: timelines.count, stats: final, loss: loss,
                         connectFailures: max(final.connectFailures, failedWhileConnecting),
                         connectSeconds: connectElapsed.seconds, postingSeconds: postingElapsed.seconds,
                         workerFailures: workerFailures,
                         workers: (fleet as? WorkerFleet)?.perWorker.map { WorkerSummary(number: $0.number, stats: $0.stats, failure: $0.failure) })
    }

    /// One WebSocket connection and auth before the crowd: a clear error when the endpoint or token is wrong.
    private func preflight(port: Int, group: any EventLoopGroup, token: String) async throws {
        let url = "ws://\(options.host):\(port)\(options.path)"
        let probe: TsunaguConnection
        do {
            probe = try await TsunaguConnection.connect(host: options.connectHost, port: port, path: options.path,
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
            throw LoadError("cannot reach \(options.host):\(options.portList[0]): \(error)")
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
        if s.connectionLosses > 0 { line += " lost \(s.connectionLosses) reconnected \(s.reconnects) down \(s.notRecovered)" }
        return line
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
