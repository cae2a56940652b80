import NIOCore
import NIOPosix
import Synchronization

/// A fake SMTP server on 127.0.0.1 that answers each command with the next reply of a script,
/// for sessions no real server produces on demand: EHLO refused, plaintext injected after
/// STARTTLS, a server that never greets.
final class ScriptedSMTPServer: Sendable {
    private let channel: any Channel
    private let received = CommandLog()
    let port: Int

    /// The command lines received so far (the message text in DATA is not included).
    var commands: [String] { self.received.lines.withLock { $0 } }

    /// - Parameters:
    ///   - greeting: sent on connect; nil for a server that never speaks.
    ///   - replies: one per command, in order (each may hold several CRLF lines); the reply to
    ///     the data is sent at the terminating `.` line.
    init(greeting: String?, replies: [String]) async throws {
        let received = self.received
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ScriptHandler(greeting: greeting, replies: replies, received: received))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        self.port = self.channel.localAddress!.port!
    }

    func stop() async throws {
        try await self.channel.close()
    }
}

final class CommandLog: Sendable {
    let lines = Mutex<[String]>([])
}

private final class ScriptHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let greeting: String?
    private var replies: [String]
    private let received: CommandLog
    private var pending = ""
    private var inData = false

    init(greeting: String?, replies: [String], received: CommandLog) {
        self.greeting = greeting
        self.replies = replies
        self.received = received
    }

    func channelActive(context: ChannelHandlerContext) {
        if let greeting = self.greeting { self.send(greeting, context: context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.pending += String(buffer: self.unwrapInboundIn(data))
        while let end = self.pending.range(of: "\r\n") {
            let line = String(self.pending[..<end.lowerBound])
            self.pending.removeSubrange(..<end.upperBound)
            if self.inData {
                guard line == "." else { continue }
                self.inData = false
            } else {
                self.received.lines.withLock { $0.append(line) }
                if line == "DATA" { self.inData = true }
            }
            if !self.replies.isEmpty { self.send(self.replies.removeFirst(), context: context) }
        }
    }

    private func send(_ text: String, context: ChannelHandlerContext) {
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
    }
}

/// A loopback port that nothing listens on (bound, read, released).
enum FreePort {
    static func pick() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }
}
