import Foundation
import NIOPosix
import Testing
import TsunaguClient
import TsunaguCore

/// Two `tsunagu serve` processes on one store, created with the operator commands: posts to both
/// at once get dense, unique seqs, and each node replays the other's events.
@Suite(.processHeavy) struct MultiProcessTests {
    @Test func twoNodeProcessesShareOneTimelineWithoutSeqConflicts() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-mp-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = directory + "/tsunagu.sqlite"
        let key = directory + "/master.key"
        let common = ["--store", store, "--master-key-file", key]
        let password = "correct horse battery staple"
        let bootstrap = try await TsunaguExecutable.run(["admin", "bootstrap", "--org", "Sakura Clinic", "--email",
                                                   "doc@sakura.test", "--password-stdin"] + common, stdin: password)
        #expect(bootstrap.status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: key)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let a = try await NodeProcess.start(store: store, keyFile: key, nodeID: "n_a")
        let b = try await NodeProcess.start(store: store, keyFile: key, nodeID: "n_b")
        defer { a.stop(); b.stop() }
        let group = MultiThreadedEventLoopGroup.singleton

        let httpA = TsunaguHTTPClient(host: "127.0.0.1", port: a.port, group: group)
        let login = try await httpA.send("POST", "/v1/sessions", json: ["email": "doc@sakura.test", "password": .string(password)])
        let token = try #require(login.json?["token"]?.stringValue)
        let created = try await httpA.send("POST", "/v1/timelines", json: ["title": "Shared", "kind": "group"], token: token)
        let timeline = try #require(created.json?["id"]?.stringValue)

        var connections: [TsunaguConnection] = []
        for port in [a.port, b.port] {
            let connection = try await TsunaguConnection.connect(host: "127.0.0.1", port: port, group: group)
            let auth = try await connection.request(["type": "auth", "token": .string(token)])
            #expect(auth["node"]?.stringValue == (port == a.port ? "n_a" : "n_b"))
            connections.append(connection)
        }
        let perNode = 60
        let seqs = try await withThrowingTaskGroup(of: [Int].self) { tasks in
            for connection in connections {
                tasks.addTask {
                    var seqs: [Int] = []
                    for i in 0..<perNode {
                        let ack = try await connection.request([
                            "type": "post", "timeline": .string(timeline), "body": .string("n\(i)"),
                            "client_msg_id": .string(UUID().uuidString)])
                        seqs.append(ack["seq"]?.intValue ?? -1)
                    }
                    return seqs
                }
            }
            return try await tasks.reduce(into: [Int]()) { $0 += $1 }
        }
        #expect(seqs.sorted() == Array(2...(1 + 2 * perNode)))

        // A subscriber on node B replays everything, node A's posts included, in order.
        let reader = try await TsunaguConnection.connect(host: "127.0.0.1", port: b.port, group: group)
        _ = try await reader.request(["type": "auth", "token": .string(token)])
        let reply = try await reader.request(["type": "subscribe", "timeline": .string(timeline), "since": 0])
        #expect(reply["head"]?.intValue == 1 + 2 * perNode)
        var replayed: [Int] = []
        for _ in 0..<(1 + 2 * perNode) { replayed.append(try await reader.nextPush()["seq"]?.intValue ?? -1) }
        #expect(replayed == Array(1...(1 + 2 * perNode)))
    }

    @Test func commandsRefuseAMissingOrWrongKeyInOneLine() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-key-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = directory + "/tsunagu.sqlite"
        let missing = try await TsunaguExecutable.run(["serve", "--store", store, "--master-key-file", directory + "/none.key",
                                                 "--listen", "127.0.0.1:0"])
        #expect(missing.status == 1)
        #expect(missing.output.split(separator: "\n").count == 1)
        let boot = try await TsunaguExecutable.run(["admin", "bootstrap", "--store", store, "--master-key-file", directory + "/a.key",
                                              "--org", "O", "--email", "a@b.test", "--password-stdin"], stdin: "long enough password")
        #expect(boot.status == 0)
        // another key does not open the store's data keys: an error, never a silent new key
        _ = try await TsunaguExecutable.run(["admin", "bootstrap", "--store", directory + "/other.sqlite", "--master-key-file",
                                       directory + "/b.key", "--org", "P", "--email", "c@d.test", "--password-stdin"],
                                      stdin: "long enough password")
        let wrong = try await TsunaguExecutable.run(["admin", "add-user", "--store", store, "--master-key-file", directory + "/b.key",
                                               "--email", "x@y.test", "--name", "X", "--password-stdin"], stdin: "long enough password")
        #expect(wrong.status == 1)
        #expect(wrong.output.contains("the master key does not open this store's data keys"))
        #expect(wrong.output.split(separator: "\n").count == 1)
        let badFlag = try await TsunaguExecutable.run(["serve", "--listen", "nowhere"])
        #expect(badFlag.status == 2)
        #expect(badFlag.output.contains("--listen"))
        let badProxy = try await TsunaguExecutable.run(["serve", "--listen", "127.0.0.1:0", "--trusted-proxy", "10.0.0.0/33"])
        #expect(badProxy.status == 2)
        #expect(badProxy.output.contains("--trusted-proxy"))
        #expect(badProxy.output.split(separator: "\n").count == 1)
    }

    /// A node or `up` on an address other than loopback refuses plaintext unless told: tokens and
    /// patient data would cross the network in the clear. Nothing is bound (validation refuses first).
    @Test func aNodeOffLoopbackRefusesToRunWithoutTLS() async throws {
        for arguments in [["serve", "--listen", "0.0.0.0:0"], ["serve", "--listen", "[::]:0"], ["up", "--host", "0.0.0.0"]] {
            let refused = try await TsunaguExecutable.run(arguments)
            #expect(refused.status == 2, "\(arguments)")
            #expect(refused.output.contains("--insecure-plaintext"), "\(arguments)")
            #expect(refused.output.contains("--tls-cert"))
            #expect(refused.output.split(separator: "\n").count == 1, "one line")
        }
    }
}
