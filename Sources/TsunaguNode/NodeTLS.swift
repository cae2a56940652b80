import NIOSSL

/// TLS material for the node's listener, loaded by the executable (the node reads no files).
public struct NodeTLS: Sendable {
    public var certificateChain: [NIOSSLCertificate]
    public var privateKey: NIOSSLPrivateKey
    /// CA whose client certificates the node accepts (the second factor). With it, the node
    /// requests a certificate on every TLS connection; organizations may require one.
    public var clientCA: [NIOSSLCertificate]?

    public init(certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey, clientCA: [NIOSSLCertificate]? = nil) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.clientCA = clientCA
    }

    func makeContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        // TLS 1.0 and 1.1 are deprecated (RFC 8996); BoringSSL's server default still takes them.
        tls.minimumTLSVersion = .tlsv12
        if let clientCA {
            // Request a certificate; one that is presented must chain to this CA and be within its
            // validity dates, or the handshake fails. Absent is allowed here: whether a login needs
            // one is the organization's policy, checked at login and at WebSocket auth.
            tls.certificateVerification = .optionalVerification
            tls.trustRoots = .certificates(clientCA)
            tls.sendCANameList = true
        }
        return try NIOSSLContext(configuration: tls)
    }
}
