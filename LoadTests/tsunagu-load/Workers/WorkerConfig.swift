import TsunaguClient

/// What a worker process needs to run its share of the subscribers; sent as JSON on its stdin
/// (the session token included, which is why it is not on the command line).
struct WorkerConfig: Sendable {
    var target: Target
    var timelines: [String]
    var sourceAddresses: [String]
    var share: SubscriberShare
    var eventLoops: Int

    var json: JSONValue {
        [
            "host": .string(target.host), "ports": .array(target.ports.map { .int($0) }), "path": .string(target.path),
            "token": .string(target.token), "compression": .bool(target.compression),
            "reconnect": .bool(target.reconnect),
            "timelines": .array(timelines.map { .string($0) }),
            "source_addresses": .array(sourceAddresses.map { .string($0) }),
            "first": .int(share.first), "stride": .int(share.stride), "count": .int(share.count),
            "ramp": .double(share.ramp), "event_loops": .int(eventLoops),
        ]
    }

    init(target: Target, timelines: [String], sourceAddresses: [String], share: SubscriberShare, eventLoops: Int) {
        self.target = target
        self.timelines = timelines
        self.sourceAddresses = sourceAddresses
        self.share = share
        self.eventLoops = eventLoops
    }

    init(json: JSONValue) throws {
        func strings(_ key: String) -> [String] { (json[key]?.arrayValue ?? []).compactMap(\.stringValue) }
        guard let host = json["host"]?.stringValue, let path = json["path"]?.stringValue,
              let token = json["token"]?.stringValue,
              let ports = json["ports"]?.arrayValue?.compactMap(\.intValue), !ports.isEmpty,
              let count = json["count"]?.intValue, let ramp = json["ramp"]?.doubleValue, ramp > 0,
              !strings("timelines").isEmpty else {
            throw LoadError("worker: incomplete config")
        }
        target = Target(host: host, ports: ports, path: path, token: token,
                        compression: json["compression"]?.boolValue ?? false,
                        reconnect: json["reconnect"]?.boolValue ?? false)
        timelines = strings("timelines")
        sourceAddresses = strings("source_addresses")
        share = SubscriberShare(first: json["first"]?.intValue ?? 0, stride: max(1, json["stride"]?.intValue ?? 1),
                                count: count, ramp: ramp)
        eventLoops = max(1, json["event_loops"]?.intValue ?? 1)
    }
}
