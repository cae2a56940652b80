import NIOCore
import TsunaguWebSocket

// permessage-deflate (RFC 7692) for the client. Everything else in this module talks to compression
// only through `MessageCodec` and `ClientDeflate`; this file is the one place that knows which
// implementation is used.

/// Compresses outgoing and inflates incoming message payloads of one connection. Used on the
/// connection's event loop only (the deflate streams keep state between messages).
protocol MessageCodec: AnyObject {
    func compress(_ message: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer
    func decompress(_ message: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer
}

/// What the server's `Sec-WebSocket-Extensions` answer settled.
struct NegotiatedDeflate: Equatable, Sendable {
    var serverNoContextTakeover = false
    var clientNoContextTakeover = false
    var serverMaxWindowBits = 15
    var clientMaxWindowBits = 15

    /// The offer this client sends.
    static let offerHeader = "permessage-deflate; client_no_context_takeover"

    /// Parses the server's answer. nil when it accepted no permessage-deflate; throws on an answer
    /// RFC 7692 §7 says the client must fail the connection for.
    static func parse(responseHeader values: [String]) throws -> NegotiatedDeflate? {
        var result: NegotiatedDeflate?
        for value in values {
            for ext in value.split(separator: ",") {
                let parts = ext.split(separator: ";").map { $0.trimmingSpaces() }
                guard let name = parts.first, name.lowercased() == "permessage-deflate" else {
                    throw TsunaguClientError.protocolViolation("server accepted an extension not offered: \(ext.trimmingSpaces())")
                }
                guard result == nil else {
                    throw TsunaguClientError.protocolViolation("permessage-deflate accepted twice")
                }
                var p = NegotiatedDeflate()
                var seen = Set<String>()
                for param in parts.dropFirst() {
                    let kv = param.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
                    let key = kv[0].lowercased()
                    guard seen.insert(key).inserted else {
                        throw TsunaguClientError.protocolViolation("duplicate permessage-deflate parameter \(key)")
                    }
                    let value = kv.count > 1 ? kv[1].trimmingCharacters(in: "\"") : nil
                    switch key {
                    case "server_no_context_takeover" where value == nil: p.serverNoContextTakeover = true
                    case "client_no_context_takeover" where value == nil: p.clientNoContextTakeover = true
                    case "server_max_window_bits":
                        guard let v = value.flatMap({ Int($0) }), (8...15).contains(v) else {
                            throw TsunaguClientError.protocolViolation("bad server_max_window_bits")
                        }
                        p.serverMaxWindowBits = v
                    default:
                        // client_max_window_bits was not offered, so the server must not send it.
                        throw TsunaguClientError.protocolViolation("unexpected permessage-deflate parameter \(param)")
                    }
                }
                result = p
            }
        }
        return result
    }
}

/// Why a message could not be inflated.
enum MessageCodecError: Error {
    /// Inflated, the message would exceed the connection's limit (close 1009).
    case tooLarge
    /// Not a valid DEFLATE payload (close 1007).
    case invalidData
}

enum ClientDeflate {
    /// Whether this build can compress.
    static let isAvailable = true

    /// Makes the codec for a negotiated connection.
    static func makeCodec(_ parameters: NegotiatedDeflate, maxMessageBytes: Int) throws -> any MessageCodec {
        ZlibMessageCodec(parameters, maxMessageBytes: maxMessageBytes)
    }
}

/// permessage-deflate on `TsunaguWebSocket`'s zlib deflater and inflater.
final class ZlibMessageCodec: MessageCodec {
    private let deflater: MessageDeflater
    private let inflater: MessageInflater

    init(_ parameters: NegotiatedDeflate, maxMessageBytes: Int) {
        // This client always offers client_no_context_takeover, so it resets its compressor after
        // every message whatever the answer: always decodable by the server.
        deflater = MessageDeflater(noContextTakeover: true, windowBits: parameters.clientMaxWindowBits)
        // Window 15 inflates whatever window the server compresses with.
        inflater = MessageInflater(noContextTakeover: parameters.serverNoContextTakeover, windowBits: 15,
                                   maxOutput: maxMessageBytes)
    }

    func compress(_ message: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        deflater.compress(message, allocator: allocator)
    }

    func decompress(_ message: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        do {
            return try inflater.decompress(message, allocator: allocator)
        } catch InflateError.messageTooLarge {
            throw MessageCodecError.tooLarge
        } catch {
            throw MessageCodecError.invalidData
        }
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        String(self.drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}
