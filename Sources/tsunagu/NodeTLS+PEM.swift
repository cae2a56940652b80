import NIOSSL
import TsunaguNode

extension NodeTLS {
    /// The node's TLS material from PEM files (`--tls-cert`, `--tls-key`, `--tls-client-ca`).
    static func fromPEMFiles(certificate: String, key: String, clientCA: String?) throws -> NodeTLS {
        NodeTLS(certificateChain: try NIOSSLCertificate.fromPEMFile(certificate),
                privateKey: try NIOSSLPrivateKey(file: key, format: .pem),
                clientCA: try clientCA.map { try NIOSSLCertificate.fromPEMFile($0) })
    }
}
