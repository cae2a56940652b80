import Foundation
import NIOCore
import NIOPosix
import Testing
import TsunaguClient
import TsunaguTestSupport

/// The cluster on separate "hosts" (issue 10 item 5): network namespaces on one machine
/// (`cluster/netns.sh`): the store host, nodes n_1…n_3 (n_4 joins later), the balancer, each in its
/// own namespace; clients in the root namespace. Peer links run over mutual TLS with the cluster
/// CA between namespaces. It checks the round-robin spread, fan-out across nodes, `kill -9` of the
/// node with the most clients while another keeps posting, a drain, a node added, and a node cut
/// off from its peers (not from the store) whose clients still get every event through repair.
/// Delivery is judged by `LossChecker`: nothing lost, nothing out of order.
///
/// It runs twice: on a fresh SQLite file (one file on one kernel: shared across namespaces) and on
/// PostgreSQL, a throwaway server on the store host (in its namespace), or `TSUNAGU_TEST_STORE`
/// when set (a PostgreSQL URL). Where namespaces are not allowed, it says so and runs the same
/// topology on 127.0.0.x.
@Suite(.serialized, .processHeavy) struct MultiHostClusterTests {
    static let password = "correct horse battery staple"
    static let nodePort = 7000, adminPort = 7100, balancerPort = 8080

    @Test(.timeLimit(.minutes(6)), arguments: ["sqlite", "postgres"])
    func nodesOnSeparateHostsSurviveKillDrainGrowthAndAPartition(_ storeKind: String) async throws {
        let began = ContinuousClock.now
        let topology = try await HostTopology.make(hosts: [("store", 10), ("n_1", 11), ("n_2", 12), ("n_3", 13),
                                                           ("n_4", 14), ("lb", 20)])
        defer { topology.destroy() }
        if case .loopback(let reason) = topology.mode {
            print("MultiHostClusterTests: NOT on separate network namespaces (\(reason)); running the same topology on 127.0.0.x addresses")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-hosts-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certs = directory + "/certs"
        let made = try await Tool.run("/bin/bash", [MutualTLSTests.script, certs, "n_1", "n_2", "n_3", "n_4"])
        try #require(made.status == 0, "\(made.output)")
        var postgres: PostgresTestServer?
        defer { postgres?.stop() }
        let store: String
        if storeKind == "sqlite" {
            store = directory + "/tsunagu.sqlite"
        } else if let given = ProcessInfo.processInfo.environment["TSUNAGU_TEST_STORE"] {
            store = given
        } else {
            let launcher = topology.mode == .namespaces ? ["/bin/bash", HostTopology.script, "exec", "store"] : []
            postgres = try PostgresTestServer(host: topology.address("store"), launcher: launcher)
            store = try postgres!.makeDatabaseURL()
        }
        let common = ["--store", store, "--master-key-file", directory + "/master.key"]
        let boot = try await TsunaguExecutable.run(["admin", "bootstrap", "--org", "Sakura", "--email", "doc@sakura.test",
                                                    "--password-stdin"] + common, stdin: Self.password)
        try #require(boot.status == 0, "\(boot.output)")

        let balancerAddress = topology.address("lb")
        // On 127.0.0.x the kernel gives the balancer's connections to nodes the source 127.0.0.1,
        // not its listening address: there the whole loopback range is the trusted proxy.
        let trustedProxy = topology.mode == .namespaces ? "\(balancerAddress)/32" : "127.0.0.0/8"
        var processes: [String: NodeProcess] = [:]
        defer { for process in processes.values { process.kill9() } }
        func startNode(_ id: String) async throws {
            let address = topology.address(id)
            let (executable, arguments) = topology.command(on: id, [
                "serve", "--listen", "\(address):\(Self.nodePort)", "--admin-listen", "\(address):\(Self.adminPort)",
                "--insecure-plaintext", "--trusted-proxy", trustedProxy, "--event-loops", "1",
                "--peer-tls-cert", certs + "/peer-{node}.pem", "--peer-tls-key", certs + "/peer-{node}.key",
                "--peer-tls-ca", certs + "/cluster-ca.pem", "--node-id", id,
            ] + common)
            processes[id] = try await NodeProcess.start(arguments, executable: executable)
        }
        for id in ["n_1", "n_2", "n_3"] { try await startNode(id) }
        let (lbExecutable, lbArguments) = topology.command(on: "lb", ["balance", "--listen", "\(balancerAddress):\(Self.balancerPort)"] + common)
        processes["lb"] = try await NodeProcess.start(lbArguments, executable: lbExecutable)

        let group = MultiThreadedEventLoopGroup.singleton
        /// A counter or gauge from a node's admin listener (`/metrics`).
        func metric(_ name: String, of node: String) async throws -> Int {
            let admin = TsunaguHTTPClient(host: topology.address(node), port: Self.adminPort, group: group)
            let text = try await admin.send("GET", "/metrics").text
            let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
        }
        func peerLinks(of node: String) async throws -> Int { try await metric("tsunagu_peer_links", of: node) }
        let http = TsunaguHTTPClient(host: balancerAddress, port: Self.balancerPort, group: group)
        try await waitUntil("the balancer sees 3 ready nodes") {
            Set(try await (0..<9).asyncMap { _ in try await http.send("GET", "/healthz").json?["node"]?.stringValue }).count == 3
        }
        // every node holds a peer link to each other node, over mutual TLS across the namespaces
        try await waitUntil("peer links between every pair of nodes") {
            try await ["n_1", "n_2", "n_3"].asyncMap { try await peerLinks(of: $0) }.allSatisfy { $0 == 2 }
        }

        let login = try await http.send("POST", "/v1/sessions", json: ["email": "doc@sakura.test", "password": .string(Self.password)])
        let token = try #require(login.json?["token"]?.stringValue)
        let timelines = try await (0..<3).asyncMap { index in
            let created = try await http.send("POST", "/v1/timelines", json: ["title": .string("T\(index)"), "kind": "group"], token: token)
            return try #require(created.json?["id"]?.stringValue)
        }

        // round robin: 60 clients through the balancer, about a third on each node
        var subscribers: [ResilientSubscriber] = []
        var starts: [(TsunaguConnection, Int)] = []
        for index in 0..<60 {
            let subscriber = ResilientSubscriber(timeline: timelines[index % 3], host: balancerAddress, port: Self.balancerPort,
                                                 token: token, group: group)
            starts.append(try await subscriber.start())
            subscribers.append(subscriber)
        }
        var perNode: [String: Int] = [:]
        for subscriber in subscribers { perNode[subscriber.record.nodes[0], default: 0] += 1 }
        #expect(perNode.count == 3, "\(perNode)")
        for (node, count) in perNode { #expect((16...24).contains(count), "\(node) got \(count) of 60") }
        let running = zip(subscribers, starts).map { ($0, $1.0, $1.1) }
        let readers = Task {
            await withTaskGroup(of: Void.self) { tasks in
                for (subscriber, connection, head) in running {
                    tasks.addTask { await subscriber.run(first: connection, head: head) }
                }
            }
        }

        // fan-out across nodes: a publisher on each node, straight to it
        let acked = AckedHeads()
        var publishers: [String: Publisher] = [:]
        for id in ["n_1", "n_2", "n_3"] {
            publishers[id] = try await Publisher.connect(host: topology.address(id), port: Self.nodePort, fallbackHost: balancerAddress,
                                                         fallbackPort: Self.balancerPort, token: token, group: group)
        }
        func publish(_ rounds: Int, on ids: [String]) async throws {
            try await Self.publish(rounds, with: ids.map { publishers[$0]! }, timelines: timelines, acked: acked)
        }
        try await publish(5, on: ["n_1", "n_2", "n_3"])

        // kill -9 the node holding the most clients while another node keeps posting
        let busiest = perNode.max { $0.value < $1.value }!.key
        let others = ["n_1", "n_2", "n_3"].filter { $0 != busiest }
        let (steady, drained) = (others[0], others[1])
        let steadyPublisher = publishers[steady]!
        let posting = Task { try await Self.publish(15, with: [steadyPublisher], timelines: timelines, acked: acked) }
        try await Task.sleep(for: .milliseconds(200))
        processes[busiest]?.kill9()
        try await posting.value
        try await publish(3, on: ["n_1", "n_2", "n_3"])  // the killed node's publisher moves to the balancer

        // drain another node: its clients move with nothing lost
        let drain = try await TsunaguExecutable.run(["nodes", "drain", drained] + common)
        #expect(drain.status == 0, "\(drain.output)")
        try await publish(3, on: [steady, drained])

        // add a node: it links to the survivor and receives clients through the balancer
        try await startNode("n_4")
        try await waitUntil("the new node receives connections through the balancer") {
            try await (0..<6).asyncMap { _ in try await http.send("GET", "/healthz").json?["node"]?.stringValue }.contains("n_4")
        }
        try await waitUntil("peer links between the survivor and the new node") {
            let (survivor, added) = (try await peerLinks(of: steady), try await peerLinks(of: "n_4"))
            return survivor == 1 && added == 1
        }
        publishers["n_4"] = try await Publisher.connect(host: topology.address("n_4"), port: Self.nodePort, fallbackHost: balancerAddress,
                                                        fallbackPort: Self.balancerPort, token: token, group: group)
        try await publish(3, on: [steady, "n_4"])

        // cut the survivor (which holds the moved clients) off from its peer, not from the store
        // or the balancer: what n_4 commits reaches them through the repair sweep
        if topology.mode == .namespaces {
            let repairsBefore = try await metric("tsunagu_repair_reads_total", of: steady)
            try await topology.partition(steady, from: [topology.address("n_4")])
            #expect(try await topology.reaches(from: steady, topology.address("n_4"), port: Self.nodePort) == false)
            #expect(try await topology.reaches(from: "lb", topology.address(steady), port: Self.nodePort))
            try await publish(10, on: ["n_4"])
            try await waitUntil("the partitioned node's clients caught up") {
                await subscribers.asyncAllCaughtUp(acked)
            }
            #expect(try await metric("tsunagu_repair_reads_total", of: steady) > repairsBefore, "repair carried the events")
            try await topology.heal(steady, from: [topology.address("n_4")])
        } else {
            print("MultiHostClusterTests: partition step skipped: it needs network namespaces (blackhole routes per host)")
        }

        // nothing lost, nothing out of order (LossChecker), for every subscriber
        try await waitUntil("every subscriber caught up", seconds: 30) { await subscribers.asyncAllCaughtUp(acked) }
        for subscriber in subscribers { subscriber.stop() }
        await readers.value
        let heads = await acked.heads
        let report = LossChecker.check(zip(subscribers, starts).map { subscriber, start -> (timeline: String, tracker: SeqTracker) in
            var tracker = SeqTracker(after: start.1)
            for seq in subscriber.record.received { tracker.record(seq) }
            return (timeline: subscriber.timeline, tracker: tracker)
        }, highestAcked: heads)
        #expect(report.missing == 0 && report.outOfOrder == 0, "\(report)")
        #expect(subscribers.contains { $0.record.reconnects > 0 }, "the killed and the drained node's clients moved")
        let elapsed = ContinuousClock.now - began
        // Printed, not judged: at the busiest moment of a CI run the sqlite case took 78 s of what
        // takes 25 s alone; the test's time limit is what catches a hang.
        print("MultiHostClusterTests: \(storeKind), \(topology.mode == .namespaces ? "namespaces" : "127.0.0.x"), \(report.subscriptions) subscriptions, \(heads.values.reduce(0, +)) events, duplicates \(report.duplicates), \(elapsed)")
    }

    /// `rounds` posts per publisher, spread over the timelines; records the acknowledged seqs.
    private static func publish(_ rounds: Int, with publishers: [Publisher], timelines: [String], acked: AckedHeads) async throws {
        for round in 0..<rounds {
            for (index, publisher) in publishers.enumerated() {
                let timeline = timelines[(round + index) % timelines.count]
                await acked.record(timeline, try await publisher.post(timeline: timeline, body: "r\(round) p\(index)"))
            }
        }
    }
}

/// The highest acknowledged seq per timeline, as publishers report them.
actor AckedHeads {
    private(set) var heads: [String: Int] = [:]
    func record(_ timeline: String, _ seq: Int) { heads[timeline] = max(heads[timeline] ?? 0, seq) }
}

extension Array where Element == ResilientSubscriber {
    func asyncAllCaughtUp(_ acked: AckedHeads) async -> Bool {
        let heads = await acked.heads
        return allSatisfy { subscriber in heads[subscriber.timeline].map { (subscriber.last ?? 0) >= $0 } ?? true }
    }
}
