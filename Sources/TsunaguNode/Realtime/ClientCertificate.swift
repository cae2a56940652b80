import NIOCore
import NIOSSL
import TsunaguCrypto

/// The client certificate a TLS connection presented. With `--tls-client-ca` the node requests
/// one and BoringSSL has already verified it against that CA (chain and validity dates) during
/// the handshake; what remains is to name it by its SHA-256 fingerprint.
enum ClientCertificate {
    /// Must run on the channel's event loop, after the handshake.
    static func fingerprint(of channel: any Channel) -> [UInt8]? {
        guard let certificate = try? channel.pipeline.syncOperations.nioSSL_peerCertificate(),
            let der = try? certificate.toDERBytes()
        else { return nil }
        return Digest.sha256(der)
    }
}
