import NIOSSL
import TsunaguNode

extension NodeTLS {
    /// TLS material from the PEM files a test made (the node itself reads no files).
    static func load(certificate: String, key: String, clientCA: String?) throws -> NodeTLS {
        NodeTLS(certificateChain: try NIOSSLCertificate.fromPEMFile(certificate),
                privateKey: try NIOSSLPrivateKey(file: key, format: .pem),
                clientCA: try clientCA.map { try NIOSSLCertificate.fromPEMFile($0) })
    }
}
