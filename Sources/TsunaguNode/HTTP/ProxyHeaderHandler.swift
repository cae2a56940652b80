import NIOCore
import TsunaguCore

/// The first handler of every node connection. It looks at the connection's first bytes once:
///
/// - from a trusted proxy (`NodeConfiguration.trustedProxies`, `--trusted-proxy`), a PROXY
///   protocol v2 header (`ProxyHeader`) names the client; it is consumed and its source address
///   becomes the connection's source for throttles, audit and logs. Without a header the
///   connection keeps its socket address (the balancer's health probes send none);
/// - from anyone else, a connection that opens with the PROXY signature is closed: an untrusted
///   client must not choose the address it is throttled and audited under.
///
/// Then it installs the rest of the pipeline (`configure`, given the source when a header named
/// one), passes on whatever followed the header, and removes itself: no per-connection state is
/// kept once the header is read (docs/benchmarks.md, idle connections).
final class ProxyHeaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let trusted: Bool
    private let configure: (any Channel, String?) throws -> Void
    /// The bytes read so far, only while they might still be the start of a header (at most
    /// 16 + 36 bytes are needed to decide).
    private var pending: ByteBuffer?
    /// TLV bytes of a header still to be discarded as they arrive.
    private var skipping = 0
    private var source: String?
    private var done = false
    /// Told of each refused connection (metrics).
    private let onRefuse: () -> Void

    init(trusted: Bool, onRefuse: @escaping () -> Void = {}, configure: @escaping (any Channel, String?) throws -> Void) {
        self.trusted = trusted
        self.onRefuse = onRefuse
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        var buffer = unwrapInboundIn(data)
        if skipping > 0 {
            let count = min(skipping, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: count)
            skipping -= count
            if skipping > 0 { return }
            return proceed(context: context, with: buffer)
        }
        if var pending {
            pending.writeBuffer(&buffer)
            buffer = pending
            self.pending = nil
        }
        switch ProxyHeader.parse(buffer.readableBytesView) {
        case .needMore:
            pending = buffer
        case .notProxy:
            proceed(context: context, with: buffer)
        case .invalid:
            refuse(context: context)
        case .header(let header, let length):
            guard trusted else { return refuse(context: context) }
            if header.command == .proxy, let address = header.source,
                let socket = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: address.bytes), port: Int(address.port))
            {
                source = socket.ipAddress
            }
            let count = min(length, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: count)
            skipping = length - count
            if skipping == 0 { proceed(context: context, with: buffer) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending = nil
        context.fireChannelInactive()
    }

    private func refuse(context: ChannelHandlerContext) {
        done = true
        pending = nil
        onRefuse()
        context.close(promise: nil)
    }

    /// Installs the rest of the pipeline behind this handler, hands it what followed the header,
    /// and leaves.
    private func proceed(context: ChannelHandlerContext, with remainder: ByteBuffer) {
        done = true
        do {
            try configure(context.channel, source)
        } catch {
            context.close(promise: nil)
            return
        }
        if remainder.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(remainder)) }
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
}
