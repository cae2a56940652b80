import NIOCore
import NIOHTTP1

/// Writes a streamed body: each `write` goes out as one HTTP chunk and waits until the socket took
/// it, so a slow reader slows the producer instead of filling memory.
typealias ResponseStream = @Sendable (ResponseBodyWriter) async throws -> Void

struct ResponseBodyWriter: Sendable {
    let channel: any Channel

    func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        let part = HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: bytes)))
        try await channel.writeAndFlush(part)
    }
}
