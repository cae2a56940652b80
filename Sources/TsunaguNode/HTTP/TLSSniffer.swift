import NIOCore
import NIOSSL

/// TLS is optional on the node's one port (docs/protocol.md §1). When it is on, the first byte of a
/// connection tells the two apart: a TLS record starts with 0x16 (handshake). TLS connections get
/// the whole API; plaintext ones get the restricted pipeline (health and peer links only), so
/// that the balancer's and HAProxy's health checks and the peer mesh work without certificates.
final class TLSSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let tls: NIOSSLContext
    private let secure: HTTPPipeline
    private let plaintext: HTTPPipeline
    /// The client's address from a trusted proxy's PROXY header, if one named it.
    private let source: String?

    init(tls: NIOSSLContext, secure: HTTPPipeline, plaintext: HTTPPipeline, source: String? = nil) {
        self.tls = tls
        self.secure = secure
        self.plaintext = plaintext
        self.source = source
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        do {
            if first == 0x16 {
                try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .after(self))
                try secure.configure(context.channel, source: source)  // behind the TLS handler
            } else {
                try plaintext.configure(context.channel, source: source)
            }
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
}
