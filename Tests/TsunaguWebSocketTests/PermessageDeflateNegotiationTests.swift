import Testing

@testable import TsunaguWebSocket

@Suite("permessage-deflate negotiation (RFC 7692 §5, §7)")
struct PermessageDeflateNegotiationTests {
    @Test func plainOfferIsAcceptedWithServerNoContextTakeover() throws {
        let agreed = try #require(PermessageDeflate.negotiate(offers: ["permessage-deflate"]))
        #expect(agreed == PermessageDeflate())
        #expect(agreed.responseHeaderValue == "permessage-deflate; server_no_context_takeover")
        #expect(agreed.compressionWindowBits == 15)
    }

    @Test func noOfferMeansNoCompression() {
        #expect(PermessageDeflate.negotiate(offers: []) == nil)
        #expect(PermessageDeflate.negotiate(offers: ["x-webkit-deflate-frame"]) == nil)
    }

    @Test func clientNoContextTakeoverIsConfirmed() throws {
        let agreed = try #require(PermessageDeflate.negotiate(offers: ["permessage-deflate; client_no_context_takeover"]))
        #expect(agreed.clientNoContextTakeover)
        #expect(agreed.responseHeaderValue == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    }

    @Test func serverNoContextTakeoverOfferIsAccepted() throws {
        let agreed = try #require(PermessageDeflate.negotiate(offers: ["permessage-deflate; server_no_context_takeover"]))
        #expect(agreed.responseHeaderValue == "permessage-deflate; server_no_context_takeover")
    }

    @Test(arguments: [
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=10",
        "permessage-deflate; client_max_window_bits=\"15\"",
        "permessage-deflate;client_max_window_bits=8",
        "PerMessage-Deflate; Client_Max_Window_Bits",
    ])
    func clientMaxWindowBitsFormsAreAcceptedAndIgnored(offer: String) throws {
        let agreed = try #require(PermessageDeflate.negotiate(offers: [offer]))
        // §7.1.2.2: the server may leave it out of the response; our inflater has a full window.
        #expect(!agreed.responseHeaderValue.contains("client_max_window_bits"))
    }

    @Test(arguments: [
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=08",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; client_max_window_bits=",
    ])
    func invalidClientMaxWindowBitsDeclinesTheOffer(offer: String) {
        #expect(PermessageDeflate.negotiate(offers: [offer]) == nil)
    }

    @Test(arguments: [9, 10, 12, 15])
    func serverMaxWindowBitsIsHonoured(bits: Int) throws {
        let agreed = try #require(PermessageDeflate.negotiate(offers: ["permessage-deflate; server_max_window_bits=\(bits)"]))
        #expect(agreed.serverMaxWindowBits == bits)
        #expect(agreed.compressionWindowBits == bits)
        #expect(agreed.responseHeaderValue.hasSuffix("; server_max_window_bits=\(bits)"))
    }

    @Test func serverMaxWindowBitsWeCannotHonourSkipsToTheNextOffer() throws {
        // zlib has no raw 8-bit window: the first offer is declined, the fallback accepted.
        #expect(PermessageDeflate.negotiate(offers: ["permessage-deflate; server_max_window_bits=8"]) == nil)
        let agreed = try #require(
            PermessageDeflate.negotiate(offers: [
                "permessage-deflate; server_max_window_bits=8; client_no_context_takeover, permessage-deflate"
            ])
        )
        #expect(agreed == PermessageDeflate())
    }

    @Test(arguments: [
        "permessage-deflate; server_max_window_bits",  // value required
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; foo",
        "permessage-deflate; foo=bar",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
    ])
    func unknownDuplicateOrMalformedParametersDeclineTheOffer(offer: String) {
        #expect(PermessageDeflate.negotiate(offers: [offer]) == nil)
    }

    @Test func firstAcceptableOfferWinsAcrossElementsAndHeaderLines() throws {
        let agreed = try #require(
            PermessageDeflate.negotiate(offers: [
                "x-webkit-deflate-frame, permessage-deflate; foo",
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=12, permessage-deflate",
            ])
        )
        #expect(agreed == PermessageDeflate(clientNoContextTakeover: true, serverMaxWindowBits: 12))
    }

    @Test func extensionHeaderParserHandlesQuotedValuesWithSeparators() {
        let offers = ExtensionElement.parse(headerValues: ["a; p=\"x\", b ; q , ,c"])
        #expect(offers.map(\.name) == ["a", "b", "c"])
        #expect(offers[0].parameters.first?.value == "x")
        #expect(offers[1].parameters.first?.name == "q")
        // A quoted value that is not a token after unquoting is malformed (RFC 6455 §9.1).
        #expect(ExtensionElement.parse(headerValues: ["a; p=\"x y\""]).first?.name == "")
    }
}
