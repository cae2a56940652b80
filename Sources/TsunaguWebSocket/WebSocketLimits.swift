import NIOCore

/// Per-connection limits of the WebSocket message layer.
///
/// The defaults are the ones docs/protocol.md promises for `/v1/ws`; tests shorten the timers and the
/// conformance echo raises the sizes (Autobahn sends messages of up to 16 MiB).
public struct WebSocketLimits: Sendable {
    /// Largest message accepted, measured after reassembly and after decompression.
    /// Larger messages fail the connection with 1009 (RFC 6455 §7.4.1: "a message that is too big
    /// for it to process").
    public var maxMessageBytes: Int = 65_536

    /// High water mark of the channel's outbound buffer. While more bytes than this are queued
    /// and not yet written to the socket, `send` answers `.overflow` (slow consumer).
    public var outboundHighWaterMark: Int = 1 << 20

    /// How long a connection may stay silent before the server sends it a ping.
    public var pingInterval: TimeAmount = .seconds(25)

    /// How long the server waits for any frame (normally the pong) after a ping before it gives
    /// the connection up.
    public var pongTimeout: TimeAmount = .seconds(60)

    /// Whether binary messages are delivered. `/v1/ws` is text-only (1003 otherwise); only the
    /// conformance echo endpoint turns this on.
    public var allowsBinary: Bool = false

    /// After the server sends a Close frame it waits this long for the peer's Close before it
    /// drops the TCP connection (RFC 6455 §7.1.1: the server should close TCP after the handshake).
    public var closeHandshakeTimeout: TimeAmount = .seconds(3)

    public init() {}

    /// The largest single frame the frame decoder buffers. A compressed frame may be a little
    /// larger than the message it inflates to (incompressible data gains stored-block headers),
    /// so compressed input gets some slack; the inflated size is still held to `maxMessageBytes`.
    var maxFrameBytes: Int {
        let slack = Swift.max(1024, self.maxMessageBytes / 16)
        let (sum, overflow) = self.maxMessageBytes.addingReportingOverflow(slack)
        return overflow ? Int(UInt32.max) : Swift.min(sum, Int(UInt32.max))
    }

    /// Largest accumulated payload of a compressed message before inflating.
    var maxCompressedMessageBytes: Int { self.maxFrameBytes }
}
