import NIOCore
import NIOWebSocket

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

    /// The Close frame a connection sends when a message sent from another thread finds its
    /// outbound buffer above `outboundHighWaterMark` (see `WebSocketConnection.send(_:)`). The
    /// application names its own code for this: RFC 6455 §7.4.2 leaves 4000–4999 to private use.
    /// The default is 1008 (§7.4.1: "a generic status code [...] when there is no other more
    /// suitable status code").
    public var overflowCloseCode: UInt16 = 1008
    /// The reason text of that Close frame (at most 123 bytes go on the wire).
    public var overflowCloseReason: String = "outbound buffer full"

    public init() {}

    /// Limits with the application's close code and reason for an outbound overflow.
    public init(overflowCloseCode: UInt16, overflowCloseReason: String) {
        self.overflowCloseCode = overflowCloseCode
        self.overflowCloseReason = overflowCloseReason
    }

    /// The largest single frame the frame decoder buffers. A compressed frame may be a little
    /// larger than the message it inflates to (incompressible data gains stored-block headers),
    /// so compressed input gets some slack; the inflated size is still held to `maxMessageBytes`.
    var maxFrameBytes: Int { Self.maxFrameBytes(forMessageBytes: self.maxMessageBytes) }

    static func maxFrameBytes(forMessageBytes maxMessageBytes: Int) -> Int {
        let slack = Swift.max(1024, maxMessageBytes / 16)
        let (sum, overflow) = maxMessageBytes.addingReportingOverflow(slack)
        return overflow ? Int(UInt32.max) : Swift.min(sum, Int(UInt32.max))
    }

    /// `overflowCloseCode` as the type `WebSocketConnection.close` takes.
    var overflowCloseErrorCode: WebSocketErrorCode { WebSocketErrorCode(codeNumber: Int(self.overflowCloseCode)) }

    /// Largest accumulated payload of a compressed message before inflating.
    var maxCompressedMessageBytes: Int { self.maxFrameBytes }
}
