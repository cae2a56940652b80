import Testing
import TsunaguCore

/// The PROXY protocol v2 parser and encoder (Sources/TsunaguCore/ProxyHeader.swift): what a node
/// accepts as the first bytes of a connection from a trusted proxy.
@Suite struct ProxyHeaderTests {
    private let signature = ProxyHeader.signature
    private let client4 = ProxyHeader.Address(bytes: [203, 0, 113, 7], port: 51_234)
    private let server4 = ProxyHeader.Address(bytes: [10, 0, 0, 1], port: 8443)

    @Test func parsesAnIPv4Header() {
        let bytes = signature + [0x21, 0x11, 0x00, 0x0C, 203, 0, 113, 7, 10, 0, 0, 1, 0xC8, 0x22, 0x20, 0xFB]
        #expect(ProxyHeader.parse(bytes) == .header(ProxyHeader(command: .proxy, source: client4, destination: server4),
                                                   length: 28))
        // What follows the header is not part of it.
        #expect(ProxyHeader.parse(bytes + Array("GET / HTTP/1.1\r\n".utf8)) == ProxyHeader.parse(bytes))
    }

    @Test func parsesAnIPv6Header() {
        let source: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [5]
        let destination: [UInt8] = Array(repeating: 0, count: 15) + [1]
        let bytes = signature + [0x21, 0x21, 0x00, 0x24] + source + destination + [0x01, 0xBB, 0x00, 0x50]
        #expect(ProxyHeader.parse(bytes) == .header(ProxyHeader(
            command: .proxy, source: .init(bytes: source, port: 443), destination: .init(bytes: destination, port: 80)),
                                                   length: 52))
    }

    @Test func aLocalHeaderNamesNoAddressWhateverItsFamily() {
        #expect(ProxyHeader.parse(signature + [0x20, 0x00, 0x00, 0x00]) == .header(ProxyHeader(command: .local), length: 16))
        // LOCAL with an address block (and a family this parser does not support): ignored, skipped.
        let block = Array(repeating: UInt8(9), count: 12)
        #expect(ProxyHeader.parse(signature + [0x20, 0x31, 0x00, 0x0C] + block)
            == .header(ProxyHeader(command: .local), length: 28))
        // PROXY over AF_UNSPEC: accepted, keeps the socket's address.
        #expect(ProxyHeader.parse(signature + [0x21, 0x00, 0x00, 0x00]) == .header(ProxyHeader(command: .proxy), length: 16))
    }

    @Test func aTruncatedHeaderAsksForMore() {
        let full = signature + [0x21, 0x11, 0x00, 0x0C, 203, 0, 113, 7, 10, 0, 0, 1, 0xC8, 0x22, 0x20, 0xFB]
        #expect(ProxyHeader.parse([UInt8]()) == .needMore(16))
        #expect(ProxyHeader.parse(full.prefix(5)) == .needMore(16))
        #expect(ProxyHeader.parse(full.prefix(12)) == .needMore(16))
        #expect(ProxyHeader.parse(full.prefix(15)) == .needMore(16))
        #expect(ProxyHeader.parse(full.prefix(16)) == .needMore(28))
        #expect(ProxyHeader.parse(full.prefix(27)) == .needMore(28))
    }

    @Test func anythingElseIsNotAProxyHeader() {
        #expect(ProxyHeader.parse(Array("GET /readyz HTTP/1.1\r\n".utf8)) == .notProxy)
        #expect(ProxyHeader.parse([0x16, 0x03, 0x01]) == .notProxy)  // a TLS ClientHello
        // Version 1 (text) is not read: it is not version 2's signature.
        #expect(ProxyHeader.parse(Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".utf8)) == .notProxy)
        var bad = signature + [0x21, 0x11, 0x00, 0x0C] + Array(repeating: 1, count: 12)
        bad[11] = 0x0B  // bad signature
        #expect(ProxyHeader.parse(bad) == .notProxy)
        // A prefix that diverges early is decided at once.
        #expect(ProxyHeader.parse([0x0D, 0x0A, 0x41]) == .notProxy)
    }

    @Test func refusesAnUnsupportedFamilyVersionCommandOrShortBlock() {
        let block = Array(repeating: UInt8(1), count: 12)
        // UDP over IPv4, AF_UNIX stream, an unknown family
        for family: UInt8 in [0x12, 0x31, 0x41] {
            guard case .invalid = ProxyHeader.parse(signature + [0x21, family, 0x00, 0x0C] + block) else {
                Issue.record("family 0x\(String(family, radix: 16)) accepted")
                continue
            }
        }
        guard case .invalid = ProxyHeader.parse(signature + [0x11, 0x11, 0x00, 0x0C] + block) else {
            Issue.record("version 1 in the binary form accepted"); return
        }
        guard case .invalid = ProxyHeader.parse(signature + [0x22, 0x11, 0x00, 0x0C] + block) else {
            Issue.record("command 2 accepted"); return
        }
        guard case .invalid = ProxyHeader.parse(signature + [0x21, 0x21, 0x00, 0x0C] + block) else {
            Issue.record("an IPv6 header shorter than its address block accepted"); return
        }
    }

    @Test func oversizeTLVsAreSkippedUnread() {
        // 12 bytes of addresses, then 65,523 bytes of TLVs: the header is decided from its first
        // 28 bytes; its length tells the caller how much to discard.
        let length = 0xFFFF
        let start = signature + [0x21, 0x11, 0xFF, 0xFF, 203, 0, 113, 7, 10, 0, 0, 1, 0xC8, 0x22, 0x20, 0xFB]
        let expected = ProxyHeader.ParseResult.header(
            ProxyHeader(command: .proxy, source: client4, destination: server4), length: 16 + length)
        #expect(ProxyHeader.parse(start) == expected)
        #expect(ProxyHeader.parse(start + [0x04, 0x00, 0x03, 1, 2, 3]) == expected)
    }

    @Test func encodesWhatItParses() {
        let v4 = ProxyHeader(command: .proxy, source: client4, destination: server4)
        let encoded = v4.encoded()
        #expect(encoded.count == 28)
        #expect(ProxyHeader.parse(encoded) == .header(v4, length: 28))
        let v6 = ProxyHeader(command: .proxy, source: .init(bytes: Array(repeating: 0xFE, count: 16), port: 1),
                             destination: .init(bytes: Array(repeating: 0, count: 15) + [1], port: 2))
        #expect(ProxyHeader.parse(v6.encoded()) == .header(v6, length: 52))
        // Mixed families cannot be said: LOCAL.
        let mixed = ProxyHeader(command: .proxy, source: client4, destination: v6.destination)
        #expect(ProxyHeader.parse(mixed.encoded()) == .header(ProxyHeader(command: .local), length: 16))
    }
}
