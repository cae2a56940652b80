import NIOCore
import NIOSSL
import TsunaguCore

/// TLS material for peer links (`--peer-tls-cert`, `--peer-tls-key`, `--peer-tls-ca`): this node's
/// certificate from the cluster CA, naming its node id, and the cluster CA itself — a CA of its
/// own, never the CA of client certificates. With it, peer links run over mutually authenticated
/// TLS (1.3) on the node's port, in both directions, and each end checks that the other's
/// certificate names the node id the registry and the hello claim (docs/cluster.md, "Peer links").
public struct PeerTLS: Sendable {
    /// The node accepting a peer link.
    let serverContext: NIOSSLContext
    /// The node opening a peer link.
    let clientContext: NIOSSLContext

    /// The server name a peer link's ClientHello carries: it sends the connection to the peer
    /// context on a port that also serves clients. `.invalid` is reserved (RFC 2606), so no
    /// client's real host name can collide with it.
    static let serverName = "tsunagu-peer.invalid"

    /// Fails when the key does not match the certificate or the material is unusable.
    public init(certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey, clusterCA: [NIOSSLCertificate]) throws {
        serverContext = try Self.makeServerContext(certificateChain, privateKey, clusterCA)
        clientContext = try Self.makeClientContext(certificateChain, privateKey, clusterCA)
    }

    /// The node accepting a peer link: a certificate from the cluster CA is required.
    private static func makeServerContext(_ certificateChain: [NIOSSLCertificate], _ privateKey: NIOSSLPrivateKey,
                                          _ clusterCA: [NIOSSLCertificate]) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        tls.minimumTLSVersion = .tlsv13
        tls.certificateVerification = .noHostnameVerification  // required, chained to the cluster CA
        tls.trustRoots = .certificates(clusterCA)
        return try NIOSSLContext(configuration: tls)
    }

    /// The node opening a peer link. The chain is verified against the cluster CA during the
    /// handshake; the name it must carry is the node id, checked after it (`nodeIDs(in:)`), since
    /// peers are reached by address and the address is not in the certificate.
    private static func makeClientContext(_ certificateChain: [NIOSSLCertificate], _ privateKey: NIOSSLPrivateKey,
                                          _ clusterCA: [NIOSSLCertificate]) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates(clusterCA)
        tls.certificateChain = certificateChain.map { .certificate($0) }
        tls.privateKey = .privateKey(privateKey)
        return try NIOSSLContext(configuration: tls)
    }

    /// The node ids a verified peer certificate speaks for: its DNS subject alternative names.
    public static func nodeIDs(in certificate: NIOSSLCertificate) -> Set<String> {
        var names: Set<String> = []
        for name in certificate._subjectAlternativeNames() where name.nameType == .dnsName {
            names.insert(String(decoding: Array(name.contents), as: UTF8.self))
        }
        return names
    }

    /// The node ids the peer on this channel proved with its certificate; empty without TLS.
    /// Must run on the channel's event loop, after the handshake.
    static func certifiedNodeIDs(of channel: any Channel) -> Set<String> {
        guard let certificate = try? channel.pipeline.syncOperations.nioSSL_peerCertificate() else { return [] }
        return nodeIDs(in: certificate)
    }
}
