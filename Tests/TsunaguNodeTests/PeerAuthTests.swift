import Foundation
import Testing
import TsunaguCore
import TsunaguCrypto
@testable import TsunaguNode

@Suite struct PeerAuthTests {
    let key = SymmetricKey.random()

    private func decode(_ text: String) throws -> PeerMessage {
        try JSONDecoder().decode(PeerMessage.self, from: Data(text.utf8))
    }

    @Test func anAuthenticHelloIsAcceptedOnce() throws {
        let auth = PeerAuth(key: key)
        let hello = try decode(PeerAuth(key: key).hello(from: NodeID("n_a")))
        #expect(auth.verify(hello) == NodeID("n_a"))
        #expect(auth.verify(hello) == nil, "a replayed hello must be refused")
    }

    @Test func anotherKeyATamperedFieldOrAStaleClockIsRefused() throws {
        let auth = PeerAuth(key: key)
        #expect(auth.verify(try decode(PeerAuth(key: .random()).hello(from: NodeID("n_a")))) == nil)
        var renamed = try decode(PeerAuth(key: key).hello(from: NodeID("n_a")))
        renamed.node = "n_b"
        #expect(auth.verify(renamed) == nil)
        let stale = try decode(PeerAuth(key: key).hello(from: NodeID("n_a"), nowMillis: WireTime.nowMillis() - 60_000))
        #expect(auth.verify(stale) == nil)
        var noMAC = try decode(PeerAuth(key: key).hello(from: NodeID("n_a")))
        noMAC.mac = "zz"
        #expect(auth.verify(noMAC) == nil)
    }

    @Test func peerMessagesCarryIdsOnly() throws {
        let event = try decode(PeerMessage.event(TimelineID("tl_abc")!, 7))
        #expect(event == PeerMessage(type: "event", timeline: "tl_abc", seq: 7))
    }
}
