import TsunaguClient

/// The outcome of a run: what the summary and `--json` print.
struct RunReport {
    let options: TsunaguLoad
    let timelines: Int
    let stats: StatsSnapshot
    let loss: LossReport
    let connectFailures: Int
    let connectSeconds: Double
    let postingSeconds: Double
    /// Worker processes that died or stopped answering (--processes).
    let workerFailures: [String]
    /// Per worker process, what it last reported; nil without --processes.
    let workers: [WorkerSummary]?

    /// The run passed: nothing lost, duplicated or reordered; every subscriber connected and stayed;
    /// every post was answered within the grace period.
    /// With --reconnect, losing a connection is expected; not getting it back is a failure.
    var passed: Bool {
        loss.passed && connectFailures == 0 && stats.unexpectedCloses == 0 && stats.subscribed == options.connections
            && unanswered == 0 && stats.notRecovered == 0 && workerFailures.isEmpty
    }

    var unanswered: Int { stats.inflightPosts }
    var deliveriesPerSecond: Double { postingSeconds > 0 ? Double(stats.loadDelivered) / postingSeconds : 0 }
    var postsPerSecond: Double { postingSeconds > 0 ? Double(stats.postsAcked) / postingSeconds : 0 }

    private static func percentiles(_ h: LatencyHistogram) -> JSONValue {
        guard h.totalCount > 0 else { return ["count": 0] }
        return ["count": .int(Int(h.totalCount)),
                "p50": .int(Int(h.valueAtPercentile(50))), "p90": .int(Int(h.valueAtPercentile(90))),
                "p99": .int(Int(h.valueAtPercentile(99))), "p99_9": .int(Int(h.valueAtPercentile(99.9))),
                "max": .int(Int(h.max))]
    }

    var json: JSONValue {
        var postErrors = JSONObject()
        for (code, n) in stats.postErrors { postErrors[code] = .int(n) }
        return [
            "passed": .bool(passed),
            "config": [
                "host": .string(options.host), "port": .int(options.portList.first ?? 0),
                "ports": .array(options.portList.map { .int($0) }), "connections": .int(options.connections),
                "publishers": .int(options.publishers), "rate": .double(options.postRate), "window": options.window.map { .int($0) } ?? .null,
                "duration_s": .double(options.duration), "timelines": .int(timelines),
                "compression": .bool(options.compression), "event_loops": .int(options.eventLoops),
                "reconnect": .bool(options.reconnect), "processes": .int(options.processes),
            ],
            "connections": [
                "requested": .int(options.connections), "subscribed": .int(stats.subscribed),
                "failed": .int(connectFailures), "closed_by_server": .int(stats.unexpectedCloses),
                "reconnect_requests": .int(stats.reconnectRequests), "connect_s": .double(round3(connectSeconds)),
            ],
            "reconnect": [
                "losses": .int(stats.connectionLosses), "reconnects": .int(stats.reconnects),
                "failed_attempts": .int(stats.reconnectFailures), "not_recovered": .int(stats.notRecovered),
                "recovery_s": stats.recoverySeconds.map { .double(round3($0)) } ?? .null,
                "redelivered": .int(stats.redelivered), "publisher_reconnects": .int(stats.publisherReconnects),
                "post_retries": .int(stats.postRetries),
            ],
            "posts": [
                "sent": .int(stats.postsSent), "acked": .int(stats.postsAcked),
                "errors": .object(postErrors), "unanswered": .int(unanswered),
                "per_s": .double(round3(postsPerSecond)),
            ],
            "deliveries": .int(stats.loadDelivered),
            "events_received": .int(stats.delivered),
            "deliveries_per_s": .double(round3(deliveriesPerSecond)),
            "latency_us": [
                "publish_to_deliver": Self.percentiles(stats.delivery),
                "post_to_ack": Self.percentiles(stats.ack),
                "connect_and_auth": Self.percentiles(stats.connect),
                "reconnect": Self.percentiles(stats.reconnect),
            ],
            "loss_check": [
                "passed": .bool(loss.passed), "missing": .int(loss.missing),
                "duplicates": .int(loss.duplicates), "out_of_order": .int(loss.outOfOrder),
                "subscriptions": .int(loss.subscriptions),
            ],
            "errors": .array((workerFailures + stats.errorSamples).map { .string($0) }),
            "workers": workers.map { list in .array(list.map(\.json)) } ?? .null,
        ]
    }

    var summary: String {
        var lines: [String] = []
        lines.append("tsunagu-load: \(passed ? "PASSED" : "FAILED")")
        lines.append("  subscribers  \(stats.subscribed)/\(options.connections) subscribed in \(String(format1: connectSeconds))s"
            + " over \(timelines) timeline(s); \(connectFailures) failed, \(stats.unexpectedCloses) closed by the server")
        var posts = "  posts        \(stats.postsSent) sent, \(stats.postsAcked) acked (\(String(format1: postsPerSecond))/s)"
        if !stats.postErrors.isEmpty {
            posts += ", errors: " + stats.postErrors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        if unanswered > 0 { posts += ", \(unanswered) unanswered" }
        lines.append(posts)
        lines.append("  deliveries   \(stats.loadDelivered) (\(String(format1: deliveriesPerSecond))/s)")
        lines.append("  latency      " + Self.line("publish→deliver", stats.delivery))
        lines.append("               " + Self.line("post→ack", stats.ack))
        lines.append("               " + Self.line("connect+auth", stats.connect))
        if options.reconnect || stats.connectionLosses > 0 {
            var line = "  reconnects   \(stats.connectionLosses) lost, \(stats.reconnects) back"
            if let recovery = stats.recoverySeconds { line += ", all back within \(String(format1: recovery))s of the first loss" }
            line += ", \(stats.notRecovered) not back; \(stats.redelivered) replayed events deduped"
            line += "; publishers \(stats.publisherReconnects) reconnects, \(stats.postRetries) posts re-sent"
            lines.append(line)
            lines.append("               " + Self.line("reconnect", stats.reconnect))
        }
        lines.append("  loss check   \(loss.passed ? "passed" : "FAILED"): missing \(loss.missing), duplicates \(loss.duplicates),"
            + " out of order \(loss.outOfOrder) over \(loss.subscriptions) subscription(s)")
        if let workers {
            lines.append("  processes    \(workers.count) workers: "
                + workers.map { "\($0.stats?.subscribed ?? 0) subscribed" + ($0.failure == nil ? "" : " (died)") }.joined(separator: ", "))
        }
        for e in workerFailures + stats.errorSamples { lines.append("  error        \(e)") }
        return lines.joined(separator: "\n")
    }

    private static func line(_ name: String, _ h: LatencyHistogram) -> String {
        guard h.totalCount > 0 else { return "\(name): no samples" }
        return "\(name): p50 \(micros(h.valueAtPercentile(50))) p90 \(micros(h.valueAtPercentile(90)))"
            + " p99 \(micros(h.valueAtPercentile(99))) p99.9 \(micros(h.valueAtPercentile(99.9))) max \(micros(h.max))"
            + " (\(h.totalCount))"
    }
}

private func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

extension RunReport {
    /// The percentile chart of this run (--plot).
    var plot: PercentilePlot {
        let o = options
        let pacing = o.window.map { "window \($0)" } ?? "\(String(format1: o.postRate)) posts/s"
        let ports = o.portList.count > 1 ? "\(o.portList.count) ports" : "port \(o.portList.first ?? 0)"
        var subtitle = "\(o.connections) subscribers, \(o.publishers) publishers, \(pacing), \(String(format1: o.duration)) s, "
            + "\(timelines) timeline(s), \(ports)"
        if o.processes > 1 { subtitle += ", \(o.processes) processes" }
        if o.compression { subtitle += ", permessage-deflate" }
        if o.reconnect { subtitle += ", reconnect (\(stats.connectionLosses) lost)" }
        var series: [PercentilePlot.Series] = [
            .init(name: "publish→deliver", color: "#1f77b4", histogram: stats.delivery),
            .init(name: "post→ack", color: "#ff7f0e", histogram: stats.ack),
            .init(name: "connect+auth", color: "#2ca02c", histogram: stats.connect),
        ]
        if stats.reconnect.totalCount > 0 {
            series.append(.init(name: "reconnect", color: "#d62728", histogram: stats.reconnect))
        }
        return PercentilePlot(title: "tsunagu-load latency by percentile (\(passed ? "passed" : "FAILED"))",
                              subtitle: subtitle, series: series)
    }
}
