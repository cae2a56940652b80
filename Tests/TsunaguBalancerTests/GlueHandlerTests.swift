import NIOCore
import NIOEmbedded
import Testing

@testable import TsunaguBalancer

/// The splice on embedded channels: forwarding, back-pressure, half-close and close, with no
/// sockets, so each rule is checked exactly.
@Suite struct GlueHandlerTests {
    /// Records the outbound `read` and `close` events that reach the head of a pipeline.
    final class OutboundRecorder: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0
        var closes: [CloseMode] = []

        func read(context: ChannelHandlerContext) {
            self.reads += 1
            context.read()
        }

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            self.closes.append(mode)
            if mode == .output {
                // EmbeddedChannel knows only full closes; a socket would shut its output here.
                promise?.succeed(())
            } else {
                context.close(mode: mode, promise: promise)
            }
        }
    }

    struct Splice {
        let client = EmbeddedChannel()
        let backend: EmbeddedChannel
        let clientRecorder = OutboundRecorder()
        let backendRecorder = OutboundRecorder()

        init() throws {
            self.backend = EmbeddedChannel(loop: self.client.embeddedEventLoop)
            let (clientSide, backendSide) = GlueHandler.matchedPair()
            try self.client.pipeline.syncOperations.addHandler(self.clientRecorder)
            try self.client.pipeline.syncOperations.addHandler(clientSide)
            try self.backend.pipeline.syncOperations.addHandler(self.backendRecorder)
            try self.backend.pipeline.syncOperations.addHandler(backendSide)
            try self.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try self.backend.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        }
    }

    @Test func forwardsBytesBothWays() throws {
        let splice = try Splice()
        try splice.client.writeInbound(ByteBuffer(string: "from client"))
        #expect(try splice.backend.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "from client"))
        try splice.backend.writeInbound(ByteBuffer(string: "from backend"))
        #expect(try splice.client.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "from backend"))
    }

    @Test func holdsReadsWhileThePartnerIsNotWritable() throws {
        let splice = try Splice()
        splice.client.read()
        #expect(splice.clientRecorder.reads == 1)

        splice.backend.isWritable = false
        splice.backend.pipeline.fireChannelWritabilityChanged()
        splice.client.read()
        splice.client.read()
        #expect(splice.clientRecorder.reads == 1, "no read while the backend cannot take more")

        splice.backend.isWritable = true
        splice.backend.pipeline.fireChannelWritabilityChanged()
        #expect(splice.clientRecorder.reads == 2, "the held read is issued once")
    }

    @Test func halfCloseBecomesAnOutputShutdownOfThePartner() throws {
        let splice = try Splice()
        try splice.client.writeInbound(ByteBuffer(string: "last words"))
        splice.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        splice.client.embeddedEventLoop.run()
        #expect(try splice.backend.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "last words"))
        #expect(splice.backendRecorder.closes == [.output])
        #expect(splice.clientRecorder.closes.isEmpty, "the other direction stays open")
    }

    @Test func closeOfOneSideClosesTheOther() throws {
        let splice = try Splice()
        try splice.backend.close().wait()
        splice.client.embeddedEventLoop.run()
        #expect(splice.clientRecorder.closes == [.all])
        #expect(!splice.client.isActive)
    }
}
