import Foundation
import NIOSSL
import Testing
import TsunaguClient
import TsunaguCore
@testable import TsunaguNode

/// Peer links over mutually authenticated TLS with the cluster CA (issue 10 item 3), with
/// certificates made by `cluster/make-test-certs.sh`: each end's certificate must come from the
/// cluster CA and name the node id the registry and the hello claim.
@Suite struct PeerTLSTests {
    static func makeCerts() async throws -> String {
        let certs = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-peer-certs-\(UUID().uuidString)").path
        let made = try await Tool.run("/bin/bash", [MutualTLSTests.script, certs, "n_1", "n_0"])
        try #require(made.status == 0, "\(made.output)")
        return certs
    }

    static func peerTLS(_ certs: String, _ name: String, ca: String = "cluster-ca") -> PeerTLS {
        try! PeerTLS(certificateChain: NIOSSLCertificate.fromPEMFile("\(certs)/\(name).pem"),
                     privateKey: NIOSSLPrivateKey(file: "\(certs)/\(name).key", format: .pem),
                     clusterCA: NIOSSLCertificate.fromPEMFile("\(certs)/\(ca).pem"))
    }

    @Test func peerLinksRunOverMutualTLS() async throws {
        let certs = try await Self.makeCerts()
        defer { try? FileManager.default.removeItem(atPath: certs) }
        try await withLiveNode(nodes: 2, { $0.peerTLS = Self.peerTLS(certs, "peer-\($0.nodeID)") }) { live in
            try await Self.waitForLinks(live, each: 1)
            // fan-out across the TLS links, in order
            let nurse = try await live.session(live.nurseToken, node: 1)
            _ = try await nurse.subscribe(live.timeline)
            let doctor = try await live.session(live.ownerToken, node: 0)
            var posted: [Int] = []
            for i in 0..<10 { posted.append(try #require(try await doctor.post(live.timeline, "n\(i)")["seq"]?.intValue)) }
            var received: [Int] = []
            for _ in posted { received.append(try #require(try await nurse.nextEvent()["seq"]?.intValue)) }
            #expect(received == posted)
            // with peer TLS on, a plaintext peer link is refused, even from loopback
            await #expect(throws: (any Error).self) {
                _ = try await PeerLinkInjectionTests.RawPeer.connect(port: live.ports[0], group: live.group)
            }
        }
    }

    /// One port, two kinds of TLS: peers (by their server name) get the cluster CA's context,
    /// clients get the clients' certificate and the API.
    @Test func peerTLSAndClientTLSShareThePort() async throws {
        let certs = try await Self.makeCerts()
        defer { try? FileManager.default.removeItem(atPath: certs) }
        try await withLiveNode(nodes: 2, {
            $0.peerTLS = Self.peerTLS(certs, "peer-\($0.nodeID)")
            $0.tls = try! NodeTLS.load(certificate: certs + "/server.pem", key: certs + "/server.key", clientCA: certs + "/ca.pem")
        }) { live in
            try await Self.waitForLinks(live, each: 1)
            let health = try await Tool.run("/usr/bin/curl", ["-s", "--max-time", "5", "--cacert", certs + "/ca.pem",
                                                              "-o", "/dev/null", "-w", "%{http_code}",
                                                              "https://127.0.0.1:\(live.ports[0])/v1/me"])
            #expect(health.output == "401", "the clients' TLS reaches the API: \(health.output)")
            // a client that names the peers' server name still needs a cluster certificate
            let sneaky = try await Tool.run("/usr/bin/curl", ["-sk", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                                                              "--resolve", "tsunagu-peer.invalid:\(live.ports[0]):127.0.0.1",
                                                              "https://tsunagu-peer.invalid:\(live.ports[0])/healthz"])
            #expect(sneaky.output == "000", "no cluster certificate, no handshake: \(sneaky.output)")
        }
    }

    /// A certificate from the cluster CA that names another node, and one that names the right
    /// node but comes from the client CA, get no link; events still arrive through the store.
    @Test func aPeerCertificateMustNameItsNodeAndComeFromTheClusterCA() async throws {
        let certs = try await Self.makeCerts()
        defer { try? FileManager.default.removeItem(atPath: certs) }
        for impostor in ["peer-n_0", "rogue-n_1"] {
            try await withLiveNode(nodes: 2, {
                $0.peerTLS = Self.peerTLS(certs, $0.nodeID == NodeID("n_1") ? impostor : "peer-\($0.nodeID)")
            }) { live in
                try await Task.sleep(for: .seconds(2))  // ten heartbeats: every link attempt is refused
                #expect(live.nodes.map(\.peerLinkCount) == [0, 0], "\(impostor)")
                let nurse = try await live.session(live.nurseToken, node: 0)
                _ = try await nurse.subscribe(live.timeline)
                let doctor = try await live.session(live.ownerToken, node: 1)
                let seq = try #require(try await doctor.post(live.timeline, "repaired")["seq"]?.intValue)
                #expect(try await nurse.nextEvent(timeout: .seconds(5))["seq"]?.intValue == seq, "the repair sweep")
            }
        }
    }

    static func waitForLinks(_ live: LiveNode, each count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while live.nodes.contains(where: { $0.peerLinkCount < count }) {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("peer links did not come up: \(live.nodes.map(\.peerLinkCount))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
