import NIOCore
import NIOPosix

struct TestClientError: Error, CustomStringConvertible {
    var description: String
}

/// One client connection, read and written from a test.
struct Conversation {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var pending = ByteBuffer()

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    mutating func send(_ text: String) async throws {
        try await self.outbound.write(ByteBuffer(string: text))
    }

    /// The next line, without its newline. Throws if the connection ends first.
    mutating func readLine() async throws -> String {
        while true {
            if let newline = self.pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let length = newline - self.pending.readerIndex
                let line = self.pending.readString(length: length)!
                self.pending.moveReaderIndex(forwardBy: 1)
                return line
            }
            guard var more = try await self.inbound.next() else {
                throw TestClientError(description: "connection closed before a full line")
            }
            self.pending.writeBuffer(&more)
        }
    }

    /// Bytes already read past the last line, then the rest of the stream, chunk by chunk.
    /// Returns how many bytes `body` saw, once the peer has closed.
    mutating func readToEnd(_ body: (ByteBuffer) throws -> Void) async throws -> Int {
        var count = 0
        if self.pending.readableBytes > 0 {
            count += self.pending.readableBytes
            try body(self.pending)
            self.pending.clear()
        }
        while let chunk = try await self.inbound.next() {
            count += chunk.readableBytes
            try body(chunk)
        }
        return count
    }

    /// True once the peer has closed (end of stream or a reset), with no byte read before.
    mutating func isClosedByPeer() async -> Bool {
        do {
            return try await self.inbound.next() == nil
        } catch {
            return true
        }
    }
}

enum TestClient {
    /// Opens a connection to `127.0.0.1:port`, runs `body`, closes.
    static func withConnection<Result: Sendable>(
        port: Int,
        _ body: (inout Conversation) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connectTimeout(.seconds(2))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var conversation = Conversation(inbound: inbound, outbound: outbound)
            return try await body(&conversation)
        }
    }

    /// Connects through the balancer, says hello, and answers the id of the backend that
    /// echoed it.
    static func whichBackend(port: Int) async throws -> String {
        try await self.withConnection(port: port) { conversation in
            try await conversation.send("hello\n")
            let id = try await conversation.readLine()
            let echo = try await conversation.readLine()
            guard echo == "hello" else {
                throw TestClientError(description: "echo was \(echo)")
            }
            return id
        }
    }

    /// `count` connections, `parallelism` at a time; answers each one's backend id.
    static func spread(port: Int, count: Int, parallelism: Int = 16) async throws -> [String] {
        try await withThrowingTaskGroup(of: String.self) { group in
            var ids: [String] = []
            var started = 0
            while started < min(parallelism, count) {
                group.addTask { try await self.whichBackend(port: port) }
                started += 1
            }
            while let id = try await group.next() {
                ids.append(id)
                if started < count {
                    group.addTask { try await self.whichBackend(port: port) }
                    started += 1
                }
            }
            return ids
        }
    }
}

extension Array where Element == String {
    func counted() -> [String: Int] {
        self.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }
}
