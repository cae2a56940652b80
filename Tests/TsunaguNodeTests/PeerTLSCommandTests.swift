import Foundation
import Testing

/// The peer TLS flags (`--peer-tls-cert`, `--peer-tls-key`, `--peer-tls-ca`) on `serve`, `up`
/// and `nodes add`: plaintext peer links only on loopback; a certificate that names another node
/// is refused at start, with one line that says so.
@Suite struct PeerTLSCommandTests {
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
}
