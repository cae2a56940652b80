import NIOHTTP1

/// The client's side of the opening handshake (RFC 6455 §4.1) as a pure value: the headers the
/// upgrade request carries and the checks of the server's answer.
struct ClientHandshake: Sendable {
    /// `Sec-WebSocket-Key`: a fresh nonce per connection.
    let key: String
    /// Whether the request offers permessage-deflate (`PermessageDeflate.clientOffer`).
    let offerCompression: Bool

    init(key: String = WebSocketAccept.randomKey(), offerCompression: Bool) {
        self.key = key
        self.offerCompression = offerCompression
    }

    /// The WebSocket headers of the request (NIO's upgrade handler adds `Upgrade` and `Connection`).
    func addHeaders(to headers: inout HTTPHeaders) {
        headers.add(name: "Sec-WebSocket-Key", value: self.key)
        headers.add(name: "Sec-WebSocket-Version", value: "13")
        if self.offerCompression {
            headers.add(name: "Sec-WebSocket-Extensions", value: PermessageDeflate.clientOffer)
        }
    }

    /// Checks the server's answer; returns the agreed permessage-deflate parameters (nil: none).
    /// Throws for any answer §4.1 says the client "MUST _Fail the WebSocket Connection_" for.
    func validate(_ response: HTTPResponseHead) throws(WebSocketClientError) -> PermessageDeflate? {
        // "If the status code received from the server is not 101, the client handles the
        // response per HTTP [RFC2616] procedures."
        guard response.status == .switchingProtocols else {
            throw .handshakeFailed(status: Int(response.status.code))
        }
        // "If the response lacks an |Upgrade| header field or the |Upgrade| header field contains
        // a value that is not an ASCII case-insensitive match for the value "websocket" [...]"
        guard Self.contains(response.headers, "upgrade", token: "websocket") else {
            throw .invalidHandshake("no Upgrade: websocket")
        }
        // "If the response lacks a |Connection| header field or the |Connection| header field
        // doesn't contain a token that is an ASCII case-insensitive match for the value "Upgrade" [...]"
        guard Self.contains(response.headers, "connection", token: "upgrade") else {
            throw .invalidHandshake("no Connection: upgrade")
        }
        // "If the response lacks a |Sec-WebSocket-Accept| header field or the
        // |Sec-WebSocket-Accept| contains a value other than the base64-encoded SHA-1 of the
        // concatenation of the |Sec-WebSocket-Key| (as a string, not base64-decoded) with the
        // string "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" but ignoring any leading and trailing
        // whitespace [...]"
        let accepts = response.headers["Sec-WebSocket-Accept"]
        guard accepts.count == 1,
            Self.trimmed(accepts[0]) == WebSocketAccept.value(forKey: self.key)
        else {
            throw .invalidHandshake("wrong Sec-WebSocket-Accept")
        }
        // "If the response includes a |Sec-WebSocket-Protocol| header field and this header field
        // indicates the use of a subprotocol that was not present in the client's handshake [...]"
        guard response.headers["Sec-WebSocket-Protocol"].allSatisfy({ Self.trimmed($0).isEmpty }) else {
            throw .invalidHandshake("the server chose a subprotocol that was not offered")
        }
        let extensions = response.headers["Sec-WebSocket-Extensions"]
        guard self.offerCompression else {
            guard ExtensionElement.parse(headerValues: extensions).isEmpty else {
                throw .invalidHandshake("the server accepted an extension that was not offered")
            }
            return nil
        }
        return try PermessageDeflate.negotiated(byResponse: extensions)
    }

    private static func contains(_ headers: HTTPHeaders, _ name: String, token: String) -> Bool {
        headers[canonicalForm: name].contains { $0.lowercased() == token }
    }

    private static func trimmed(_ value: String) -> Substring {
        var value = Substring(value)
        while let first = value.first, first == " " || first == "\t" { value.removeFirst() }
        while let last = value.last, last == " " || last == "\t" { value.removeLast() }
        return value
    }
}
