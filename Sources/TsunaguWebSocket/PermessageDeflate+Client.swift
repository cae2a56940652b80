/// The client's side of the permessage-deflate negotiation (RFC 7692 §5, §7.1).
extension PermessageDeflate {
    /// The offer `WebSocketClient` sends. With `client_no_context_takeover` the client resets its
    /// compressor after every message (it does so whatever the answer, which is always decodable),
    /// so a server keeps no compression history per connection for what it receives. No
    /// `client_max_window_bits`: the client compresses with the full window the server must then
    /// accept (§7.1.2.2).
    static let clientOffer = "\(extensionName); client_no_context_takeover"

    /// What the server's `Sec-WebSocket-Extensions` answer to `clientOffer` settled: nil when it
    /// declined (no answer).
    ///
    /// Throws for every answer the client must fail the connection for. RFC 6455 §4.1: "If the
    /// response includes a |Sec-WebSocket-Extensions| header field and this header field
    /// indicates the use of an extension that was not present in the client's handshake (the
    /// server has indicated an extension not requested by the client), the client MUST _Fail the
    /// WebSocket Connection_." RFC 7692 §5: "A client MUST _Fail the WebSocket Connection_ if the
    /// peer server accepted an extension negotiation offer for this extension with an extension
    /// negotiation response meeting any of the following conditions: The negotiation response
    /// contains an extension parameter not defined for use in a response. The negotiation
    /// response contains an extension parameter with an invalid value. The negotiation response
    /// contains multiple extension parameters with the same name. The client does not support the
    /// configuration that the response represents."
    static func negotiated(byResponse values: [String]) throws(WebSocketClientError) -> PermessageDeflate? {
        var agreed: PermessageDeflate?
        for element in ExtensionElement.parse(headerValues: values) {
            guard element.name == extensionName else {
                let name = element.name.isEmpty ? "a malformed extension" : element.name
                throw .invalidHandshake("the server accepted \(name), which was not offered")
            }
            // One offer, so at most one acceptance.
            guard agreed == nil else {
                throw .invalidHandshake("the server accepted \(extensionName) twice")
            }
            agreed = try Self.accepted(element)
        }
        return agreed
    }

    private static func accepted(_ element: ExtensionElement) throws(WebSocketClientError) -> PermessageDeflate {
        var agreed = PermessageDeflate()
        agreed.serverNoContextTakeover = false
        var seen = Set<String>()
        for (name, value) in element.parameters {
            guard seen.insert(name).inserted else {
                throw .invalidHandshake("duplicate \(extensionName) parameter \(name)")
            }
            switch name {
            case "server_no_context_takeover" where value == nil:
                agreed.serverNoContextTakeover = true
            case "client_no_context_takeover" where value == nil:
                agreed.clientNoContextTakeover = true
            case "server_max_window_bits":
                // §7.1.2.1: a server may announce a smaller window even when none was asked for;
                // the inflater's full 32 KiB window decodes any of them.
                guard let bits = value.flatMap(windowBits(_:)) else {
                    throw .invalidHandshake("invalid server_max_window_bits in the \(extensionName) answer")
                }
                agreed.serverMaxWindowBits = bits
            default:
                // Includes client_max_window_bits, §7.1.2.2: "If a received extension negotiation
                // response includes the "client_max_window_bits" extension parameter and the
                // offer didn't include it, the client MUST _Fail the WebSocket Connection_."
                throw .invalidHandshake("unexpected \(extensionName) parameter \(name)\(value.map { "=\($0)" } ?? "")")
            }
        }
        return agreed
    }
}
