import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import TsunaguClient
import TsunaguTestSupport

/// The cluster as operators run it: three `tsunagu serve` processes and `tsunagu balance`, 300
/// clients through the balancer, publishers on different nodes; then a node killed with SIGKILL,
/// a node drained, and a fourth node added. Every subscriber must end with every event of its
/// timeline exactly once after dedupe by seq, in order.
@Suite(.serialized, .processHeavy) struct ClusterProcessTests {
    static let password = "correct horse battery staple"

    /// On either store: the nodes share one SQLite file, or one PostgreSQL database (docs/storage.md).
    @Test(.timeLimit(.minutes(6)), arguments: ["sqlite", "postgres"])
    func threeNodesBehindTheBalancerSurviveKillDrainAndGrowth(_ backend: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-cluster-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = backend == "postgres" ? try await offPool { try PostgresTestServer.shared.get().makeDatabaseURL() } : directory + "/tsunagu.sqlite"
        let key = directory + "/master.key"
        let common = ["--store", store, "--master-key-file", key]
        let boot = try await TsunaguExecutable.run(["admin", "bootstrap", "--org", "Sakura", "--email", "doc@sakura.test",
                                                    "--password-stdin"] + common, stdin: Self.password)
        try #require(boot.status == 0)
        var nodes: [NodeProcess] = []
        for index in 0..<3 { nodes.append(try await NodeProcess.start(store: store, keyFile: key, nodeID: "n_\(index)")) }
        let balancer = try await NodeProcess.start(["balance", "--listen", "127.0.0.1:0"] + common)
        defer {
            for node in nodes { node.kill9() }
            balancer.kill9()
        }
        let group = MultiThreadedEventLoopGroup.singleton
        let http = TsunaguHTTPClient(host: "127.0.0.1", port: balancer.port, group: group)
        try await waitUntil("balancer sees 3 ready nodes") {
            Set(try await (0..<9).asyncMap { _ in try await http.send("GET", "/healthz").json?["node"]?.stringValue }).count == 3
        }
        let login = try await http.send("POST", "/v1/sessions", json: ["email": "doc@sakura.test", "password": .string(Self.password)])
        let token = try #require(login.json?["token"]?.stringValue)
        var timelines: [String] = []
        for index in 0..<3 {
            let created = try await http.send("POST", "/v1/timelines", json: ["title": .string("T\(index)"), "kind": "group"], token: token)
            timelines.append(try #require(created.json?["id"]?.stringValue))
        }

        // 300 clients through the balancer: round robin within ±10%.
        var subscribers: [ResilientSubscriber] = []
        var starts: [(TsunaguConnection, Int)] = []
        for index in 0..<300 {
            let subscriber = ResilientSubscriber(timeline: timelines[index % 3], host: "127.0.0.1", port: balancer.port,
                                                 token: token, group: group)
            starts.append(try await subscriber.start())
            subscribers.append(subscriber)
        }
        var perNode: [String: Int] = [:]
        for subscriber in subscribers { perNode[subscriber.record.nodes[0], default: 0] += 1 }
        #expect(perNode.count == 3)
        for (node, count) in perNode { #expect((90...110).contains(count), "\(node) got \(count) of 300") }
        let running = zip(subscribers, starts).map { ($0, $1.0, $1.1) }
        let readers = Task {
            await withTaskGroup(of: Void.self) { tasks in
                for (subscriber, connection, head) in running {
                    tasks.addTask { await subscriber.run(first: connection, head: head) }
                }
            }
        }

        // Publishers connect to each node directly, so events cross nodes; they retry through the
        // balancer with the same client_msg_id when their node goes away (idempotent posts).
        let publishers = try await (0..<3).asyncMap { index in
            try await Publisher.connect(port: nodes[index].port, fallbackPort: balancer.port, token: token, group: group)
        }
        func publish(_ rounds: Int) async throws {
            for round in 0..<rounds {
                for (index, publisher) in publishers.enumerated() {
                    try await publisher.post(timeline: timelines[(round + index) % 3], body: "r\(round) p\(index)")
                }
            }
        }
        try await publish(20)
        nodes[2].kill9()                                   // a crash: no close frames, no drain
        try await publish(20)
        let drain = try await TsunaguExecutable.run(["nodes", "drain", "n_1"] + common)
        #expect(drain.status == 0, "\(drain.output)")
        try await publish(20)
        nodes.append(try await NodeProcess.start(store: store, keyFile: key, nodeID: "n_3"))
        try await waitUntil("the new node receives connections through the balancer") {
            try await (0..<6).asyncMap { _ in try await http.send("GET", "/healthz").json?["node"]?.stringValue }
                .contains("n_3")
        }
        try await publish(10)

        // Every subscriber has every event of its timeline after its start, exactly once after dedupe, in order.
        var heads: [String: Int] = [:]
        for timeline in timelines {
            heads[timeline] = try await http.send("GET", "/v1/timelines/\(timeline)/events?after=0&limit=1", token: token)
                .json?["head"]?.intValue
        }
        try await waitUntil("every subscriber caught up", seconds: 30) {
            subscribers.allSatisfy { $0.last == heads[$0.timeline] }
        }
        for subscriber in subscribers { subscriber.stop() }
        await readers.value
        var reconnected = 0
        for (subscriber, start) in zip(subscribers, starts) {
            let record = subscriber.record
            let head = try #require(heads[subscriber.timeline])
            var deduped: [Int] = []
            for seq in record.received where seq > (deduped.last ?? start.1) { deduped.append(seq) }
            #expect(deduped == Array(stride(from: start.1 + 1, through: head, by: 1)), "lost or reordered events")
            #expect(Set(record.received).count == deduped.count, "an event arrived out of order")
            #expect(record.outOfOrder == 0)
            if record.reconnects > 0 { reconnected += 1 }
        }
        // the killed and the drained node's clients (about two thirds) had to move
        #expect(reconnected >= 150)
    }
}

/// Posts with retries: a post whose connection dies is sent again (same client_msg_id) through
/// the balancer, so every post is acknowledged exactly once.
actor Publisher {
    private var connection: TsunaguConnection
    private let fallbackHost: String
    private let fallbackPort: Int
    private let token: String
    private let group: any EventLoopGroup

    private init(connection: TsunaguConnection, fallbackHost: String, fallbackPort: Int, token: String,
                 group: any EventLoopGroup) {
        self.connection = connection
        self.fallbackHost = fallbackHost
        self.fallbackPort = fallbackPort
        self.token = token
        self.group = group
    }

    static func connect(host: String = "127.0.0.1", port: Int, fallbackHost: String = "127.0.0.1", fallbackPort: Int,
                        token: String, group: any EventLoopGroup) async throws -> Publisher {
        let connection = try await open(host: host, port: port, token: token, group: group)
        return Publisher(connection: connection, fallbackHost: fallbackHost, fallbackPort: fallbackPort, token: token,
                         group: group)
    }

    private static func open(host: String, port: Int, token: String, group: any EventLoopGroup) async throws -> TsunaguConnection {
        let connection = try await TsunaguConnection.connect(host: host, port: port, group: group)
        _ = try await connection.request(["type": "auth", "token": .string(token)])
        return connection
    }

    /// Posts until acknowledged; returns the event's seq.
    @discardableResult
    func post(timeline: String, body: String) async throws -> Int {
        let id = UUID().uuidString
        for _ in 0..<50 {
            if let reply = try? await connection.request(["type": "post", "timeline": .string(timeline), "body": .string(body),
                                                         "client_msg_id": .string(id)]),
                reply["type"]?.stringValue == "ok", let seq = reply["seq"]?.intValue {
                return seq
            }
            try await Task.sleep(for: .milliseconds(100))
            if let fresh = try? await Self.open(host: fallbackHost, port: fallbackPort, token: token, group: group) {
                connection = fresh
            }
        }
        throw TestFailure("a post was never acknowledged")
    }
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async throws -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
