import TsunaguClient

/// A worker process sends its counts to the parent as JSON. Histograms travel as their recorded
/// (value, count) buckets, not as percentiles, so the parent's merged percentiles are exact.
extension StatsSnapshot {
    var json: JSONValue {
        var postErrors = JSONObject()
        for (code, n) in self.postErrors { postErrors[code] = .int(n) }
        var acked = JSONObject()
        for (timeline, seq) in highestAcked { acked[timeline] = .int(seq) }
        return [
            "delivered": .int(delivered), "load_delivered": .int(loadDelivered),
            "posts_sent": .int(postsSent), "posts_acked": .int(postsAcked), "post_errors": .object(postErrors),
            "subscribed": .int(subscribed), "connect_failures": .int(connectFailures),
            "unexpected_closes": .int(unexpectedCloses), "reconnect_requests": .int(reconnectRequests),
            "unparsable": .int(unparsable), "inflight_posts": .int(inflightPosts),
            "errors": .array(errorSamples.map { .string($0) }), "highest_acked": .object(acked),
            "connection_losses": .int(connectionLosses), "reconnects": .int(reconnects),
            "reconnect_failures": .int(reconnectFailures), "publisher_reconnects": .int(publisherReconnects),
            "redelivered": .int(redelivered), "post_retries": .int(postRetries), "not_recovered": .int(notRecovered),
            // Decimal strings: monotonic nanoseconds can exceed what a JSON number holds exactly.
            "first_loss_ns": .string(String(firstLossNs)), "last_recovery_ns": .string(String(lastRecoveryNs)),
            "delivery": Self.encode(delivery), "ack": Self.encode(ack), "connect": Self.encode(connect),
            "reconnect": Self.encode(reconnect),
        ]
    }

    init(json: JSONValue) throws {
        guard case .object(let o) = json else { throw LoadError("worker stats: not a JSON object") }
        func int(_ key: String) -> Int { o[key]?.intValue ?? 0 }
        self.init()
        delivered = int("delivered")
        loadDelivered = int("load_delivered")
        postsSent = int("posts_sent")
        postsAcked = int("posts_acked")
        for (code, n) in o["post_errors"]?.objectValue ?? [:] { postErrors[code] = n.intValue ?? 0 }
        subscribed = int("subscribed")
        connectFailures = int("connect_failures")
        unexpectedCloses = int("unexpected_closes")
        reconnectRequests = int("reconnect_requests")
        unparsable = int("unparsable")
        inflightPosts = int("inflight_posts")
        errorSamples = (o["errors"]?.arrayValue ?? []).compactMap(\.stringValue)
        for (timeline, seq) in o["highest_acked"]?.objectValue ?? [:] { highestAcked[timeline] = seq.intValue ?? 0 }
        connectionLosses = int("connection_losses")
        reconnects = int("reconnects")
        reconnectFailures = int("reconnect_failures")
        publisherReconnects = int("publisher_reconnects")
        redelivered = int("redelivered")
        postRetries = int("post_retries")
        notRecovered = int("not_recovered")
        firstLossNs = o["first_loss_ns"]?.stringValue.flatMap { UInt64($0) } ?? .max
        lastRecoveryNs = o["last_recovery_ns"]?.stringValue.flatMap { UInt64($0) } ?? 0
        delivery = try Self.decode(o["delivery"])
        ack = try Self.decode(o["ack"])
        connect = try Self.decode(o["connect"])
        reconnect = try Self.decode(o["reconnect"])
    }

    /// [[value, count], …] over the recorded buckets.
    static func encode(_ h: LatencyHistogram) -> JSONValue {
        .array(h.recordedValues().map { [.int(Int($0.value)), .int(Int($0.count))] })
    }

    static func decode(_ json: JSONValue?) throws -> LatencyHistogram {
        var h = makeLatencyHistogram()
        for pair in json?.arrayValue ?? [] {
            guard let value = pair[0]?.intValue, let count = pair[1]?.intValue, value >= 0, count > 0 else {
                throw LoadError("worker stats: bad histogram bucket \(pair)")
            }
            _ = h.record(UInt64(value), count: UInt64(count))
        }
        return h
    }
}

extension LossReport {
    var json: JSONValue {
        ["missing": .int(missing), "duplicates": .int(duplicates), "out_of_order": .int(outOfOrder),
         "subscriptions": .int(subscriptions)]
    }

    init(json: JSONValue) {
        self.init(missing: json["missing"]?.intValue ?? 0, duplicates: json["duplicates"]?.intValue ?? 0,
                  outOfOrder: json["out_of_order"]?.intValue ?? 0, subscriptions: json["subscriptions"]?.intValue ?? 0)
    }
}
