import NIOCore
import NIOSSL
import NIOTLS

/// TLS is optional on the node's one port (docs/protocol.md §1). When it is on, the first byte of a
/// connection tells the two apart: a TLS record starts with 0x16 (handshake). TLS connections get
/// the whole API; plaintext ones get the restricted pipeline (health and loopback peer links
/// only), so that the balancer's and HAProxy's health checks work without certificates.
///
/// With peer TLS (`PeerTLS`), a TLS connection whose ClientHello names `PeerTLS.serverName`
/// is a peer link: it gets the cluster CA's context, which requires a node certificate, and the
/// peer-only pipeline; every other TLS connection gets the clients' context.
final class TLSSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// Where a TLS connection for peers goes.
    struct PeerRoute: Sendable {
        var context: NIOSSLContext
        var pipeline: HTTPPipeline
    }

    private let tls: NIOSSLContext?
    private let secure: HTTPPipeline
    private let plaintext: HTTPPipeline
    private let peer: PeerRoute?
    /// The client's address from a trusted proxy's PROXY header, if one named it.
    private let source: String?

    init(tls: NIOSSLContext?, secure: HTTPPipeline, plaintext: HTTPPipeline, peer: PeerRoute? = nil, source: String? = nil) {
        self.tls = tls
        self.secure = secure
        self.plaintext = plaintext
        self.peer = peer
        self.source = source
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        do {
            switch (first == 0x16, peer, tls) {
            case (true, .some(let peer), let tls):
                let (secure, source, channel) = (self.secure, self.source, context.channel)
                let sni = ByteToMessageHandler(SNIHandler { result in
                    do {
                        let sync = channel.pipeline.syncOperations
                        if result == .hostname(PeerTLS.serverName) {
                            try sync.addHandler(NIOSSLServerHandler(context: peer.context))
                            try peer.pipeline.configure(channel, source: source)
                        } else if let tls {
                            try sync.addHandler(NIOSSLServerHandler(context: tls))
                            try secure.configure(channel, source: source)
                        } else {
                            throw ChannelError.inappropriateOperationForState  // no client TLS here
                        }
                        return channel.eventLoop.makeSucceededVoidFuture()
                    } catch {
                        channel.close(promise: nil)
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                })
                try context.pipeline.syncOperations.addHandler(sni, position: .after(self))
            case (true, nil, .some(let tls)):
                try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .after(self))
                try secure.configure(context.channel, source: source)  // behind the TLS handler
            case (true, nil, nil), (false, _, _):
                // Without client TLS, plaintext is the clients' port (loopback or behind a TLS proxy).
                try (tls == nil ? secure : plaintext).configure(context.channel, source: source)
            }
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
}
