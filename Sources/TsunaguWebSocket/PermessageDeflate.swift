/// The permessage-deflate parameters agreed in the handshake (RFC 7692 §7).
///
/// The server always answers with `server_no_context_takeover`: every outgoing message is
/// compressed with a reset context, so one compressed frame can be written to every subscriber
/// (RFC 7692 §7.1.1.1: "A server MAY include the server_no_context_takeover extension parameter
/// in an extension negotiation response even if the extension negotiation offer being accepted
/// by the response doesn't include the server_no_context_takeover extension parameter.").
public struct PermessageDeflate: Sendable, Equatable {
    /// The extension token.
    public static let extensionName = "permessage-deflate"

    /// The server resets its compressor after each message. Always true in this server's answers
    /// (see the type's documentation); a client reads it from the server's answer
    /// (`negotiated(byResponse:)`).
    public var serverNoContextTakeover = true

    /// The client announced it resets its compression context after each message, and the
    /// response confirms it; the server then resets its inflater after each message too.
    public var clientNoContextTakeover: Bool

    /// The LZ77 window the client asked the server to stay within (`server_max_window_bits`),
    /// or nil when it did not ask (the server then uses the full 15 bits). On the client: the
    /// window the server announced it compresses with.
    public var serverMaxWindowBits: Int?

    public init(clientNoContextTakeover: Bool = false, serverMaxWindowBits: Int? = nil) {
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
    }

    /// Window bits the server compresses with.
    public var compressionWindowBits: Int { self.serverMaxWindowBits ?? 15 }

    /// Picks the first acceptable offer from the request's Sec-WebSocket-Extensions values;
    /// nil = no compression.
    ///
    /// RFC 7692 §5: "A server MUST decline an extension negotiation offer for this extension if
    /// any of the following conditions are met: The negotiation offer contains an extension
    /// parameter not defined for use in an offer. The negotiation offer contains an extension
    /// parameter with an invalid value. The negotiation offer contains multiple extension
    /// parameters with the same name. The server doesn't support the offered configuration."
    public static func negotiate(offers: [String]) -> PermessageDeflate? {
        for offer in ExtensionElement.parse(headerValues: offers) where offer.name == extensionName {
            if let accepted = accept(offer) {
                return accepted
            }
        }
        return nil
    }

    static func accept(_ offer: ExtensionElement) -> PermessageDeflate? {
        var seen = Set<String>()
        var agreed = PermessageDeflate()
        for (name, value) in offer.parameters {
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "server_no_context_takeover":
                guard value == nil else { return nil }
            case "client_no_context_takeover":
                guard value == nil else { return nil }
                agreed.clientNoContextTakeover = true
            case "server_max_window_bits":
                // §7.1.2.1: the server "MUST include the server_max_window_bits extension
                // parameter in the extension negotiation response with the same or smaller value".
                // zlib cannot produce raw deflate with an 8-bit (256 byte) window, so an offer
                // demanding 8 is one this server "doesn't support": decline it.
                guard let bits = value.flatMap(windowBits(_:)), bits >= 9 else { return nil }
                agreed.serverMaxWindowBits = bits
            case "client_max_window_bits":
                // §7.1.2.2: the client may send it without a value (it merely supports the
                // parameter). Either way the server may ignore it: our inflater always has a
                // 32 KiB window, which decodes any smaller window the client uses.
                if let value, windowBits(value) == nil { return nil }
            default:
                return nil
            }
        }
        return agreed
    }

    /// §7.1.2.1 ABNF: `%x38-39 / "1" %x30-35`, i.e. exactly "8" … "15" without leading zeros.
    static func windowBits(_ text: String) -> Int? {
        guard let bits = Int(text), (8...15).contains(bits), String(bits) == text else { return nil }
        return bits
    }

    /// The Sec-WebSocket-Extensions value of the 101 response,
    /// e.g. "permessage-deflate; server_no_context_takeover".
    public var responseHeaderValue: String {
        var value = Self.extensionName
        if self.serverNoContextTakeover {
            value += "; server_no_context_takeover"
        }
        if self.clientNoContextTakeover {
            value += "; client_no_context_takeover"
        }
        if let bits = self.serverMaxWindowBits {
            value += "; server_max_window_bits=\(bits)"
        }
        return value
    }
}
