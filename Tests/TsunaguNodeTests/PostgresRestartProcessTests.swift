import Foundation
import NIOPosix
import Testing
import TsunaguClient
import TsunaguTestSupport

/// Two `tsunagu serve` processes on one PostgreSQL store while PostgreSQL restarts: the nodes
/// report not ready, refuse posts with `unavailable` (never an acknowledgement that could be
/// lost), keep every acknowledged post, and resume by themselves when PostgreSQL is back; a
/// subscriber on the other node gets every event (docs/storage.md, "PostgreSQL").
@Suite(.serialized, .processHeavy) struct PostgresRestartProcessTests {
    static let password = "correct horse battery staple"

    @Test(.timeLimit(.minutes(6)))
    func nodesOnARestartingPostgresAreNotReadyRefusePostsAndLoseNothing() async throws {
        let server = try PostgresTestServer()
        defer { server.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-pgrestart-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try server.makeDatabaseURL(), key = directory + "/master.key"
        let boot = try await TsunaguExecutable.run(["admin", "bootstrap", "--org", "Sakura", "--email", "doc@sakura.test",
                                                    "--password-stdin", "--store", store, "--master-key-file", key],
                                                   stdin: Self.password)
        try #require(boot.status == 0, "\(boot.output)")
        let nodes = [try await NodeProcess.start(store: store, keyFile: key, nodeID: "n_a"),
                     try await NodeProcess.start(store: store, keyFile: key, nodeID: "n_b")]
        defer { for node in nodes { node.kill9() } }
        let group = MultiThreadedEventLoopGroup.singleton
        let http = nodes.map { TsunaguHTTPClient(host: "127.0.0.1", port: $0.port, group: group) }
        let login = try await http[0].send("POST", "/v1/sessions", json: ["email": "doc@sakura.test",
                                                                          "password": .string(Self.password)])
        let token = try #require(login.json?["token"]?.stringValue)
        let created = try await http[0].send("POST", "/v1/timelines", json: ["title": "T", "kind": "group"], token: token)
        let timeline = try #require(created.json?["id"]?.stringValue)

        let subscriber = ResilientSubscriber(timeline: timeline, host: "127.0.0.1", port: nodes[1].port, token: token,
                                             group: group)
        let (first, head) = try await subscriber.start()
        let reading = Task { await subscriber.run(first: first, head: head) }
        let poster = try await TsunaguConnection.connect(host: "127.0.0.1", port: nodes[0].port, group: group)
        _ = try await poster.request(["type": "auth", "token": .string(token)])
        func post(_ id: String) async throws -> JSONObject {
            try await poster.request(["type": "post", "timeline": .string(timeline), "body": "b",
                                      "client_msg_id": .string(id)], timeout: .seconds(20))
        }
        var acknowledged: [Int] = []
        for _ in 0..<10 {
            let reply = try await post(UUID().uuidString)
            #expect(reply["type"]?.stringValue == "ok")
            if let seq = reply["event"]?["seq"]?.intValue ?? reply["seq"]?.intValue { acknowledged.append(seq) }
        }

        server.stopServer()
        // Readiness trusts a ping of the last 5 s, then pings at each probe; a loaded machine
        // stretches both, hence 40 s. What the nodes last answered is in the failure.
        var answers: [String] = []
        try await waitUntil("both nodes report not ready", seconds: 40, pause: .milliseconds(200), seen: { answers }) {
            var statuses: [Int] = []
            for client in http {
                do { statuses.append(try await client.send("GET", "/readyz").status) } catch {
                    answers = ["\(error)"]
                    return false
                }
            }
            answers = statuses.map(String.init)
            return statuses.allSatisfy { $0 == 503 }
        }
        let downID = UUID().uuidString
        let refused = try await post(downID)
        #expect(refused["type"]?.stringValue == "error")
        #expect(refused["code"]?.stringValue == "unavailable", "\(refused)")

        try server.startServer()
        try await waitUntil("both nodes report ready again", seconds: 30, pause: .milliseconds(200)) {
            try await http.asyncMap { try await $0.send("GET", "/readyz").status }.allSatisfy { $0 == 200 }
        }
        // A retry of the refused post, with the same client_msg_id, as a client would.
        var retried: JSONObject = [:]
        try await waitUntil("the refused post goes through on retry", seconds: 20, pause: .milliseconds(200)) {
            retried = try await post(downID)
            return retried["type"]?.stringValue == "ok"
        }
        for _ in 0..<5 { #expect(try await post(UUID().uuidString)["type"]?.stringValue == "ok") }

        let history = try await http[1].send("GET", "/v1/timelines/\(timeline)/events?after=0&limit=100", token: token)
        let seqs = (history.json?["events"]?.arrayValue ?? []).compactMap { $0["seq"]?.intValue }
        let last = try #require(history.json?["head"]?.intValue)
        #expect(last == 17, "the join, 10 before, the retried one, 5 after")
        #expect(seqs == Array(1...last), "gapless, nothing lost")
        #expect(Set(acknowledged).isSubset(of: Set(seqs)))
        do {
            try await waitUntil("the subscriber on the other node has everything", seconds: 40, pause: .milliseconds(200)) { subscriber.last == last }
        } catch {
            let record = subscriber.record
            Issue.record("subscriber received \(record.received) from \(record.nodes), \(record.reconnects) reconnects; head \(last)")
            throw error
        }
        subscriber.stop()
        await reading.value
        var deduped: [Int] = []
        for seq in subscriber.record.received where seq > (deduped.last ?? head) { deduped.append(seq) }
        #expect(deduped == Array((head + 1)...last))
    }
}

/// `tsunagu store migrate` and `--store` URLs as an operator types them.
@Suite(.processHeavy) struct StoreMigrateCommandTests {
    @Test func storeMigrateCopiesAVerifiedHubAndRefusesANonEmptyTarget() async throws {
        let store = try await OperatorStore.make("migrate")
        defer { store.remove() }
        let url = try await offPool { try PostgresTestServer.shared.get().makeDatabaseURL() }
        let key = ["--master-key-file", store.directory + "/master.key"]
        let moved = try await TsunaguExecutable.run(["store", "migrate", "--from", store.storePath, "--to", url] + key)
        #expect(moved.status == 0, "\(moved.output)")
        #expect(moved.output.contains("audit chain of 2 entries intact"), "\(moved.output)")
        // The copy is a store like any other: the audit chain verifies through --store URL.
        let verify = try await TsunaguExecutable.run(["audit", "verify", "--store", url] + key)
        #expect(verify.status == 0, "\(verify.output)")
        let again = try await TsunaguExecutable.run(["store", "migrate", "--from", store.storePath, "--to", url] + key)
        #expect(again.status == 1)
        #expect(again.output.contains("not empty"), "\(again.output)")
    }

    @Test func aPasswordInTheStoreURLIsRefusedWithOneLineNamingTheFlag() async throws {
        let result = try await TsunaguExecutable.run(["nodes", "list", "--store", "postgres://u:hunter2@127.0.0.1:1/db"])
        #expect(result.status == 2)
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("--store") && lines[0].contains("password-file"), "\(result.output)")
        #expect(!result.output.contains("hunter2"))
    }
}
