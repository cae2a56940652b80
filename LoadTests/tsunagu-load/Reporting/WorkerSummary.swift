import TsunaguClient

/// One worker process in the report.
struct WorkerSummary {
    var number: Int
    var stats: StatsSnapshot?
    var failure: String?

    var json: JSONValue {
        ["worker": .int(number), "subscribed": .int(stats?.subscribed ?? 0), "events_received": .int(stats?.delivered ?? 0),
         "deliveries": .int(stats?.loadDelivered ?? 0), "failure": failure.map { .string($0) } ?? .null]
    }
}
