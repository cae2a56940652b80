import Foundation
import NIOPosix
import Synchronization
import Testing
import TsunaguClient
import TsunaguCore

/// `tsunagu keys rotate-data-key` and `rotate-master-key` on a store that two real node processes
/// serve under a load of posts and reads (issue 12 item 1): nothing is lost or unreadable, the
/// audit chain verifies, lookups by e-mail work, and a backup taken before restores with the key
/// that sealed it.
@Suite(.processHeavy) struct KeyRotationCommandTests {
    private final class StopFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        var raised: Bool { flag.load(ordering: .relaxed) }
        func raise() { flag.store(true, ordering: .relaxed) }
    }

    private let password = "long enough password"

    /// Every message body of the timeline, page by page.
    private func allBodies(_ http: TsunaguHTTPClient, timeline: String, token: String) async throws -> Set<String> {
        var bodies = Set<String>(), after = 0
        while true {
            let page = try await http.send("GET", "/v1/timelines/\(timeline)/events?after=\(after)&limit=1000", token: token)
            #expect(page.status == 200)
            let events = (page.json?["events"]?.arrayValue ?? []).compactMap(\.objectValue)
            bodies.formUnion(events.compactMap { $0["body"]?.stringValue })
            guard let last = events.last?["seq"]?.intValue, page.status == 200 else { return bodies }
            after = last
        }
    }

    @Test func rotatingBothKeysUnderLoadLosesNothing() async throws {
        let store = try await OperatorStore.make("keyrotation")
        defer { store.remove() }
        let oldKey = store.directory + "/master.key", newKey = store.directory + "/new.key"
        let common = store.common
        let newCommon = ["--store", store.storePath, "--master-key-file", newKey]

        let backup = try await TsunaguExecutable.run(["backup"] + common)
        #expect(backup.status == 0, "\(backup.output)")
        let backups = store.directory + "/data/backups"
        let backupFile = backups + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: backups).first))

        let a = try await NodeProcess.start(store: store.storePath, keyFile: oldKey, nodeID: "n_a")
        let b = try await NodeProcess.start(store: store.storePath, keyFile: oldKey, nodeID: "n_b")
        defer { a.stop(); b.stop() }
        let group = MultiThreadedEventLoopGroup.singleton
        let httpA = TsunaguHTTPClient(host: "127.0.0.1", port: a.port, group: group)
        let httpB = TsunaguHTTPClient(host: "127.0.0.1", port: b.port, group: group)
        let login = try await httpA.send("POST", "/v1/sessions", json: ["email": "a@o.test", "password": .string(password)])
        let token = try #require(login.json?["token"]?.stringValue)
        let created = try await httpA.send("POST", "/v1/timelines", json: ["title": "Rotation ward", "kind": "group"], token: token)
        let timeline = try #require(created.json?["id"]?.stringValue)
        var connections: [TsunaguConnection] = []
        for port in [a.port, b.port] {
            let connection = try await TsunaguConnection.connect(host: "127.0.0.1", port: port, group: group)
            _ = try await connection.request(["type": "auth", "token": .string(token)])
            connections.append(connection)
        }

        // The load: one poster per node and a reader of the whole history on each, until stopped.
        let stop = StopFlag()
        let posters = connections
        let load = Task {
            try await withThrowingTaskGroup(of: (posted: [String], readFailures: Int, reads: Int).self) { tasks in
                for (n, connection) in posters.enumerated() {
                    tasks.addTask {
                        var posted: [String] = []
                        while !stop.raised {
                            let body = "node\(n) message \(posted.count)"
                            let ack = try await connection.request(["type": "post", "timeline": .string(timeline), "body": .string(body),
                                                                    "client_msg_id": .string(UUID().uuidString)])
                            if ack["seq"]?.intValue != nil { posted.append(body) }
                        }
                        return (posted, 0, 0)
                    }
                }
                for http in [httpA, httpB] {
                    tasks.addTask {
                        var failures = 0, reads = 0
                        while !stop.raised {
                            let page = try await http.send("GET", "/v1/timelines/\(timeline)/events?after=0&limit=1000", token: token)
                            reads += 1
                            if page.status != 200 { failures += 1 }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                        return ([], failures, reads)
                    }
                }
                return try await tasks.reduce(into: (posted: [String](), readFailures: 0, reads: 0)) {
                    $0.posted += $1.posted
                    $0.readFailures += $1.readFailures
                    $0.reads += $1.reads
                }
            }
        }
        try await Task.sleep(for: .milliseconds(500))

        // Data key: progress is visible while the command runs (its grace period alone is 5 s).
        let clock = ContinuousClock(), rotationStart = clock.now
        let rotation = Task { try await TsunaguExecutable.run(["keys", "rotate-data-key", "--batch-size", "20"] + common) }
        try await Task.sleep(for: .milliseconds(1_500))
        let during = try await TsunaguExecutable.run(["keys", "status"] + common)
        #expect(during.output.contains("under way"), "\(during.output)")
        // Blind indexes stay searchable throughout: a login (a lookup by e-mail) mid-rotation.
        let midLogin = try await httpB.send("POST", "/v1/sessions", json: ["email": "b@o.test", "password": .string(password)])
        #expect(midLogin.json?["token"]?.stringValue != nil, "\(midLogin.status)")
        let rotated = try await rotation.value
        let rotationTime = clock.now - rotationStart
        #expect(rotated.status == 0, "\(rotated.output)")
        #expect(rotated.output.contains("finished") && rotated.output.contains("retired: dk_"), "\(rotated.output)")
        let status = try await TsunaguExecutable.run(["keys", "status"] + common)
        #expect(status.output.contains("retired 20") && status.output.contains("current"), "\(status.output)")
        #expect(status.output.contains("finished"), "\(status.output)")

        // Master key, still under load.
        let master = try await TsunaguExecutable.run(["keys", "rotate-master-key", "--new-key-file", newKey] + common)
        #expect(master.status == 0, "\(master.output)")
        #expect(master.output.contains("is now the master key"), "\(master.output)")
        try await Task.sleep(for: .milliseconds(500))
        stop.raise()
        let (posted, readFailures, reads) = try await load.value
        #expect(readFailures == 0 && reads > 10, "\(readFailures) of \(reads) reads failed")
        // The numbers docs/security.md quotes: how long the rotation took under this load.
        print("key rotation under load: \(posted.count) posts and \(reads) history reads, 0 failed; "
              + "rotate-data-key took \(rotationTime) (5 s of it the grace period): "
              + (rotated.output.split(separator: "\n").last.map(String.init) ?? ""))
        #expect(posted.count > 20, "\(posted.count) posts")

        // The old key opens nothing now; the new one opens everything, in a node started afterwards.
        let oldRefused = try await TsunaguExecutable.run(["keys", "status"] + common)
        #expect(oldRefused.status == 1 && oldRefused.output.contains("does not open"))
        let c = try await NodeProcess.start(store: store.storePath, keyFile: newKey, nodeID: "n_c")
        defer { c.stopInBackground() }
        let httpC = TsunaguHTTPClient(host: "127.0.0.1", port: c.port, group: group)
        for http in [httpA, httpC] {
            let bodies = try await allBodies(http, timeline: timeline, token: token)
            let missing = Set(posted).subtracting(bodies)
            #expect(missing.isEmpty, "\(missing.count) of \(posted.count) posts missing")
        }
        // A lookup by e-mail (the blind index) after both rotations: logging in on the new node.
        let loginB = try await httpC.send("POST", "/v1/sessions", json: ["email": "B@o.test", "password": .string(password)])
        #expect(loginB.status == 200 || loginB.status == 201, "\(loginB.status)")
        #expect(loginB.json?["token"]?.stringValue != nil)

        let verify = try await TsunaguExecutable.run(["audit", "verify"] + newCommon)
        #expect(verify.status == 0 && verify.output.contains("audit log intact"), "\(verify.output)")
        let after = try await TsunaguExecutable.run(["keys", "status"] + newCommon)
        #expect(after.status == 0 && after.output.contains("retired"), "\(after.output)")

        // The backup from before restores with the key that sealed it (the old one).
        let restoredCommon = ["--store", store.directory + "/restored/tsunagu.sqlite", "--master-key-file", oldKey]
        let restored = try await TsunaguExecutable.run(["restore", "--from", backupFile] + restoredCommon)
        #expect(restored.status == 0, "\(restored.output)")
        let restoredVerify = try await TsunaguExecutable.run(["audit", "verify"] + restoredCommon)
        // The two setup entries, the backup's `operator.backup` and the restore's `operator.restore`.
        #expect(restoredVerify.status == 0 && restoredVerify.output.contains("4 entries verified"), "\(restoredVerify.output)")
    }
}
