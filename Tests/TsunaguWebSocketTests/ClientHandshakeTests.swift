import NIOHTTP1
import Testing

@testable import TsunaguWebSocket

/// The client's side of the opening handshake (RFC 6455 §4.1, §4.2.2).
@Suite("Client handshake")
struct ClientHandshakeTests {
    /// RFC 6455 §1.3's example key and its accept value.
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="
    static let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    private func response(
        status: HTTPResponseStatus = .switchingProtocols,
        accept: [String] = [ClientHandshakeTests.accept],
        extensions: [String] = [],
        upgrade: String? = "websocket",
        connection: String? = "Upgrade"
    ) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        if let upgrade { headers.add(name: "Upgrade", value: upgrade) }
        if let connection { headers.add(name: "Connection", value: connection) }
        for value in accept { headers.add(name: "Sec-WebSocket-Accept", value: value) }
        for value in extensions { headers.add(name: "Sec-WebSocket-Extensions", value: value) }
        return HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    }

    @Test func acceptValueIsTheRFCExample() {
        #expect(WebSocketAccept.value(forKey: Self.key) == Self.accept)
    }

    @Test func keysAreFreshSixteenByteNonces() {
        let keys = (0..<20).map { _ in WebSocketAccept.randomKey() }
        #expect(Set(keys).count == 20)
        for key in keys {
            #expect(key.utf8.count == 24)  // base64 of 16 bytes
            #expect(key.hasSuffix("=="))
        }
    }

    @Test func base64MatchesRFC4648Vectors() {
        // RFC 4648 §10.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (input, output) in vectors {
            #expect(WebSocketAccept.base64(Array(input.utf8)) == output)
        }
    }

    @Test func requestCarriesKeyVersionAndOfferOnlyWhenAsked() {
        var plain = HTTPHeaders()
        ClientHandshake(key: Self.key, offerCompression: false).addHeaders(to: &plain)
        #expect(plain["Sec-WebSocket-Key"] == [Self.key])
        #expect(plain["Sec-WebSocket-Version"] == ["13"])
        #expect(plain["Sec-WebSocket-Extensions"].isEmpty)
        var deflating = HTTPHeaders()
        ClientHandshake(key: Self.key, offerCompression: true).addHeaders(to: &deflating)
        #expect(deflating["Sec-WebSocket-Extensions"] == ["permessage-deflate; client_no_context_takeover"])
    }

    @Test func theRightAcceptValueIsAccepted() throws {
        let handshake = ClientHandshake(key: Self.key, offerCompression: false)
        #expect(try handshake.validate(self.response()) == nil)
        // §4.1: "ignoring any leading and trailing whitespace"; header names and the Upgrade and
        // Connection tokens are case-insensitive.
        #expect(try handshake.validate(self.response(accept: [" \(Self.accept) "], upgrade: "WebSocket", connection: "keep-alive, upgrade")) == nil)
    }

    @Test(arguments: [
        [],
        ["s3pPLMBiTxaQ9kYGzzhZRbK+xOA="],
        [ClientHandshakeTests.accept.lowercased()],
        [ClientHandshakeTests.accept, ClientHandshakeTests.accept],
    ])
    func aWrongOrMissingAcceptValueFailsTheConnection(accept: [String]) {
        let handshake = ClientHandshake(key: Self.key, offerCompression: false)
        #expect(throws: WebSocketClientError.invalidHandshake("wrong Sec-WebSocket-Accept")) {
            try handshake.validate(self.response(accept: accept))
        }
    }

    @Test func theAcceptValueMustAnswerThisConnectionsKey() {
        let handshake = ClientHandshake(offerCompression: false)  // a fresh key
        #expect(throws: WebSocketClientError.invalidHandshake("wrong Sec-WebSocket-Accept")) {
            try handshake.validate(self.response())
        }
    }

    @Test func missingUpgradeOrConnectionFailsTheConnection() {
        let handshake = ClientHandshake(key: Self.key, offerCompression: false)
        #expect(throws: WebSocketClientError.invalidHandshake("no Upgrade: websocket")) {
            try handshake.validate(self.response(upgrade: "h2c"))
        }
        #expect(throws: WebSocketClientError.invalidHandshake("no Connection: upgrade")) {
            try handshake.validate(self.response(connection: nil))
        }
    }

    @Test func aStatusOtherThan101IsReported() {
        let handshake = ClientHandshake(key: Self.key, offerCompression: false)
        #expect(throws: WebSocketClientError.handshakeFailed(status: 403)) {
            try handshake.validate(self.response(status: .forbidden))
        }
    }

    @Test func anExtensionThatWasNotOfferedFailsTheConnection() {
        let handshake = ClientHandshake(key: Self.key, offerCompression: false)
        #expect(throws: WebSocketClientError.invalidHandshake("the server accepted an extension that was not offered")) {
            try handshake.validate(self.response(extensions: ["permessage-deflate; server_no_context_takeover"]))
        }
    }

    @Test func theAgreedDeflateParametersComeBack() throws {
        let handshake = ClientHandshake(key: Self.key, offerCompression: true)
        let agreed = try #require(try handshake.validate(self.response(
            extensions: ["permessage-deflate; server_no_context_takeover; client_no_context_takeover"])))
        #expect(agreed.serverNoContextTakeover)
        #expect(agreed.clientNoContextTakeover)
        #expect(try handshake.validate(self.response()) == nil)  // declined
    }
}

/// RFC 7692 from the client's side: the server's answer to `PermessageDeflate.clientOffer`.
@Suite("permessage-deflate negotiation, client side (RFC 7692 §5, §7.1)")
struct ClientDeflateNegotiationTests {
    @Test func anAnswerLikeThisServersIsAccepted() throws {
        let agreed = try #require(try PermessageDeflate.negotiated(
            byResponse: [PermessageDeflate(clientNoContextTakeover: true).responseHeaderValue]))
        #expect(agreed == PermessageDeflate(clientNoContextTakeover: true))
    }

    @Test func noAnswerMeansDeclined() throws {
        #expect(try PermessageDeflate.negotiated(byResponse: []) == nil)
        #expect(try PermessageDeflate.negotiated(byResponse: [""]) == nil)
    }

    @Test func aServerThatKeepsItsContextIsAccepted() throws {
        // §7.1.1.1: the server may keep its LZ77 window between messages; the client's inflater
        // then keeps its window too.
        let agreed = try #require(try PermessageDeflate.negotiated(byResponse: ["permessage-deflate"]))
        #expect(!agreed.serverNoContextTakeover)
        #expect(!agreed.clientNoContextTakeover)
        #expect(agreed.serverMaxWindowBits == nil)
    }

    @Test(arguments: [8, 9, 12, 15])
    func aSmallerServerWindowIsAccepted(bits: Int) throws {
        let agreed = try #require(try PermessageDeflate.negotiated(
            byResponse: ["permessage-deflate; server_max_window_bits=\(bits)"]))
        #expect(agreed.serverMaxWindowBits == bits)
    }

    @Test func parametersAreCaseInsensitiveAndMayBeQuoted() throws {
        let agreed = try #require(try PermessageDeflate.negotiated(
            byResponse: ["PerMessage-Deflate; Server_No_Context_Takeover; server_max_window_bits=\"10\""]))
        #expect(agreed.serverNoContextTakeover)
        #expect(agreed.serverMaxWindowBits == 10)
    }

    @Test(arguments: [
        "permessage-deflate; client_max_window_bits=15",  // §7.1.2.2: not offered
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=yes",
        "permessage-deflate; x_unknown",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate, permessage-deflate",
        "x-webkit-deflate-frame",
        "permessage-deflate; a b",
    ])
    func badAnswersFailTheConnection(answer: String) {
        #expect(throws: WebSocketClientError.self) {
            try PermessageDeflate.negotiated(byResponse: [answer])
        }
    }

    @Test func twoHeaderValuesAcceptingItTwiceFail() {
        #expect(throws: WebSocketClientError.invalidHandshake("the server accepted permessage-deflate twice")) {
            try PermessageDeflate.negotiated(byResponse: ["permessage-deflate", "permessage-deflate"])
        }
    }
}
