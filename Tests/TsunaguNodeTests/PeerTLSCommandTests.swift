import Foundation
import NIOPosix
import Testing
import TsunaguClient

/// The peer TLS flags (`--peer-tls-cert`, `--peer-tls-key`, `--peer-tls-ca`) on `serve`, `up`
/// and `nodes add`: plaintext peer links only on loopback; a certificate that names another node
/// is refused at start, with one line that says so.
@Suite(.processHeavy) struct PeerTLSCommandTests {
    @Test func aNodeOffLoopbackRefusesPlaintextPeerLinks() async throws {
        for arguments in [["serve", "--listen", "0.0.0.0:0", "--insecure-plaintext"],
                          ["up", "--host", "0.0.0.0", "--insecure-plaintext"],
                          ["nodes", "add", "10.1.2.3:7000", "--node-id", "n_x"]] {
            let refused = try await TsunaguExecutable.run(arguments)
            #expect(refused.status == 2, "\(arguments): \(refused.output)")
            #expect(refused.output.contains("--peer-tls-cert"), "\(arguments): \(refused.output)")
            #expect(refused.output.contains("loopback"))
            #expect(refused.output.split(separator: "\n").count == 1, "one line: \(refused.output)")
        }
    }

    @Test func peerTLSFlagsGoTogetherAndNameEachNode() async throws {
        let alone = try await TsunaguExecutable.run(["serve", "--listen", "127.0.0.1:0", "--peer-tls-cert", "a.pem"])
        #expect(alone.status == 2)
        #expect(alone.output.contains("--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together"))
        let peer = ["--peer-tls-cert", "c/peer-{node}.pem", "--peer-tls-key", "c/peer-{node}.key", "--peer-tls-ca", "c/cluster-ca.pem"]
        let shared = try await TsunaguExecutable.run(["up", "--nodes", "2", "--peer-tls-cert", "a.pem", "--peer-tls-key", "a.key",
                                                      "--peer-tls-ca", "ca.pem"])
        #expect(shared.status == 2)
        #expect(shared.output.contains("{node}"), "\(shared.output)")
        let noID = try await TsunaguExecutable.run(["serve", "--listen", "127.0.0.1:0"] + peer)
        #expect(noID.status == 2)
        #expect(noID.output.contains("--node-id"), "\(noID.output)")
        let addNoID = try await TsunaguExecutable.run(["nodes", "add", "127.0.0.1:7000"] + peer)
        #expect(addNoID.status == 2)
        #expect(addNoID.output.contains("--node-id"), "\(addNoID.output)")
    }

    /// A node whose certificate names another node id would be refused by every peer: it does
    /// not start, and says why in one line. With no --node-id, the certificate's id is the node's.
    @Test func aNodeStartsOnlyWithACertificateThatNamesIt() async throws {
        let store = try await OperatorStore.make("peer-tls")
        defer { store.remove() }
        let certs = store.directory + "/certs"
        let made = try await Tool.run("/bin/bash", [MutualTLSTests.script, certs, "n_1", "n_2"])
        try #require(made.status == 0, "\(made.output)")
        let flags = { (name: String) in
            ["--peer-tls-cert", "\(certs)/\(name).pem", "--peer-tls-key", "\(certs)/\(name).key", "--peer-tls-ca", "\(certs)/cluster-ca.pem"]
        }
        let wrong = try await TsunaguExecutable.run(["serve", "--listen", "127.0.0.1:0", "--node-id", "n_2"] + flags("peer-n_1")
                                                    + store.common)
        #expect(wrong.status == 1)
        #expect(wrong.output.contains("names n_1, not this node's id n_2"), "\(wrong.output)")
        #expect(wrong.output.split(separator: "\n").count == 1, "\(wrong.output)")
        // the certificate's node id is the default
        let node = try await NodeProcess.start(["serve", "--listen", "127.0.0.1:0"] + flags("peer-n_1") + store.common)
        defer { node.kill9() }
        let nodes = try await TsunaguExecutable.run(["nodes", "list"] + store.common)
        #expect(nodes.output.split(separator: "\n").contains { $0.hasPrefix("n_1 ") }, "\(nodes.output)")
    }

    /// `nodes add` passes the peer TLS flags on, `{node}` filled in: the added node becomes
    /// active (its certificate names it) and the running node links to it over mutual TLS.
    @Test(.processHeavy) func nodesAddStartsANodeWithItsOwnPeerCertificate() async throws {
        let store = try await OperatorStore.make("peer-tls-add")
        defer { store.remove() }
        let certs = store.directory + "/certs"
        let made = try await Tool.run("/bin/bash", [MutualTLSTests.script, certs, "n_1", "n_2"])
        try #require(made.status == 0, "\(made.output)")
        let peer = ["--peer-tls-cert", "\(certs)/peer-{node}.pem", "--peer-tls-key", "\(certs)/peer-{node}.key",
                    "--peer-tls-ca", "\(certs)/cluster-ca.pem"]
        // fixed ports below the ephemeral range (as UpCommandTests): the admin port is read here
        let adminPort = Int.random(in: 20_000...26_000), addedPort = Int.random(in: 26_001...32_000)
        let first = try await NodeProcess.start(["serve", "--listen", "127.0.0.1:0", "--node-id", "n_1",
                                                 "--admin-listen", "127.0.0.1:\(adminPort)"] + peer + store.common)
        defer { first.kill9() }
        let added = try await TsunaguExecutable.run(["nodes", "add", "127.0.0.1:\(addedPort)", "--node-id", "n_2"] + peer + store.common)
        #expect(added.status == 0, "\(added.output)")
        defer {  // also when an expectation above throws: the added node runs on its own
            let drain = Process()
            drain.executableURL = TsunaguExecutable.url
            drain.arguments = ["nodes", "drain", "n_2", "--wait", "10"] + store.common
            drain.standardOutput = FileHandle.nullDevice
            drain.standardError = FileHandle.nullDevice
            try? drain.run()
            drain.waitUntilExit()
        }
        #expect(try await Self.waitForOnePeerLink(adminPort: adminPort), "n_1 links to the added node over TLS")
    }

    /// `up` gives each node its own peer certificate (`{node}` = n_PORT): both nodes start (a
    /// certificate naming another node would stop them) and link to each other over mutual TLS.
    @Test(.processHeavy) func upGivesEachNodeItsOwnPeerCertificate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-up-peer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = Int.random(in: 20_000...32_000)  // below the ephemeral range, as UpCommandTests
        let certs = directory.path + "/certs"
        let made = try await Tool.run("/bin/bash", [MutualTLSTests.script, certs, "n_\(port + 1)", "n_\(port + 2)"])
        try #require(made.status == 0, "\(made.output)")
        let process = Process()
        process.executableURL = TsunaguExecutable.url
        process.arguments = ["up", "--port", String(port), "--nodes", "2", "--no-backups",
                             "--peer-tls-cert", certs + "/peer-{node}.pem", "--peer-tls-key", certs + "/peer-{node}.key",
                             "--peer-tls-ca", certs + "/cluster-ca.pem"]
        process.currentDirectoryURL = directory
        let output = OutputCollector()
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { handle in output.append(handle.availableData) }
        try process.run()
        defer { terminateInBackground(process) }  // SIGTERM: `up` drains and stops its nodes
        let up = try await output.waitFor("Tsunagu is up", seconds: 30, while: process)
        try #require(up || output.text.contains("cannot listen"), "\(output.text)")
        guard up else { return }  // a port someone else holds: nothing to say about peer links
        for node in [port + 1, port + 2] {
            let log = try String(contentsOfFile: directory.path + "/tsunagu-data/logs/node-\(node).log", encoding: .utf8)
            // Text or JSON lines (JSON when the output is not a terminal, as here).
            #expect(log.contains("tsunagu.peer_tls=true") || log.contains(#""tsunagu.peer_tls":"true""#), "\(log)")
            let admin = try #require(log.firstMatch(of: /tsunagu\.admin"?[=:]"?127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) })
            #expect(try await Self.waitForOnePeerLink(adminPort: admin), "n_\(node) links to the other node")
        }
    }

    /// Whether the node's `tsunagu_peer_links` (its admin listener) reads 1 within 10 s.
    static func waitForOnePeerLink(adminPort: Int) async throws -> Bool {
        let metrics = TsunaguHTTPClient(host: "127.0.0.1", port: adminPort, group: MultiThreadedEventLoopGroup.singleton)
        for _ in 0..<50 {
            let line = (try? await metrics.send("GET", "/metrics").text)?.split(separator: "\n")
                .first { $0.hasPrefix("tsunagu_peer_links ") }
            if let value = line?.split(separator: " ").last.flatMap({ Double($0) }), value == 1 { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
