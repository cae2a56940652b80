import ArgumentParser
import Foundation
import NIOSSL
import TsunaguCore
import TsunaguNode

/// `--peer-tls-cert`, `--peer-tls-key`, `--peer-tls-ca`: peer links over mutually authenticated
/// TLS with the cluster CA (docs/cluster.md, "Peer links"). Taken by `serve`, `up` and
/// `nodes add`; `{node}` in a path stands for the node id, so one flag names every node's files.
struct PeerTLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "PEM certificate of this node from the cluster CA, naming the node id as a DNS subject alternative name; `{node}` in the path stands for the node id. Peer links then run over mutual TLS.",
        valueName: "path"))
    var peerTlsCert: String?
    @Option(help: ArgumentHelp("PEM private key of --peer-tls-cert (`{node}` as there).", valueName: "path"))
    var peerTlsKey: String?
    @Option(help: ArgumentHelp(
        "PEM cluster CA: peers must present a certificate from it. Its own CA, never the CA of client certificates (--tls-client-ca).",
        valueName: "path"))
    var peerTlsCa: String?

    static let placeholder = "{node}"

    var isOn: Bool { peerTlsCert != nil }

    func validate() throws {
        let given = [peerTlsCert, peerTlsKey, peerTlsCa].compactMap { $0 }.count
        guard given == 0 || given == 3 else {
            throw ValidationError("--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together")
        }
        if peerTlsCa?.contains(Self.placeholder) == true {
            throw ValidationError("--peer-tls-ca: one cluster CA for every node; \(Self.placeholder) is for the node's own files")
        }
    }

    /// Whether the paths differ per node (they hold `{node}`).
    var isPerNode: Bool {
        [peerTlsCert, peerTlsKey].contains { $0?.contains(Self.placeholder) == true }
    }

    /// Plaintext peer links only on loopback: a node elsewhere needs peer TLS.
    func checkTransport(host: String, flag: String) throws {
        guard !isOn, !NodeOptions.isLoopback(host) else { return }
        throw ValidationError("\(flag): \(host) is not a loopback address, and peer links between nodes run in plaintext only on loopback; give --peer-tls-cert, --peer-tls-key and --peer-tls-ca (docs/cluster.md)")
    }

    /// The flags for a node process with this id, `{node}` filled in.
    func arguments(node: String) -> [String] {
        guard let peerTlsCert, let peerTlsKey, let peerTlsCa else { return [] }
        return ["--peer-tls-cert", Self.fill(peerTlsCert, node), "--peer-tls-key", Self.fill(peerTlsKey, node),
                "--peer-tls-ca", peerTlsCa]
    }

    /// The node id the certificate names, when it names exactly one: `serve`'s default node id.
    func certifiedNodeID() throws -> String? {
        guard let peerTlsCert, !isPerNode else { return nil }
        let names = PeerTLS.nodeIDs(in: try Self.certificate(peerTlsCert))
        return names.count == 1 ? names.first : nil
    }

    /// The peer TLS material of the node `node`; nil when the flags are not given.
    func load(node: NodeID) throws -> PeerTLS? {
        guard let peerTlsCert, let peerTlsKey, let peerTlsCa else { return nil }
        let certificatePath = Self.fill(peerTlsCert, node.rawValue)
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        guard let leaf = chain.first else { throw CLIError("--peer-tls-cert: no certificate in \(certificatePath)") }
        let names = PeerTLS.nodeIDs(in: leaf)
        guard names.contains(node.rawValue) else {
            throw CLIError("--peer-tls-cert: \(certificatePath) names \(names.sorted().joined(separator: ", ").nonEmpty ?? "no node id"), not this node's id \(node) (--node-id); peers would refuse it")
        }
        do {
            return try PeerTLS(certificateChain: chain, privateKey: try NIOSSLPrivateKey(file: Self.fill(peerTlsKey, node.rawValue), format: .pem),
                               clusterCA: try NIOSSLCertificate.fromPEMFile(peerTlsCa))
        } catch {
            throw CLIError("cannot load the peer TLS certificate, key or cluster CA: \(error)")
        }
    }

    private static func certificate(_ path: String) throws -> NIOSSLCertificate {
        guard let first = try NIOSSLCertificate.fromPEMFile(path).first else {
            throw CLIError("--peer-tls-cert: no certificate in \(path)")
        }
        return first
    }

    private static func fill(_ path: String, _ node: String) -> String {
        path.replacingOccurrences(of: placeholder, with: node)
    }
}

private extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
