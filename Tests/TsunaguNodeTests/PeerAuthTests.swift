import Foundation
import Testing
import TsunaguCore
import TsunaguCrypto
@testable import TsunaguNode

@Suite struct PeerAuthTests {
    let key = SymmetricKey.random()

    private func decode(_ text: String) throws -> PeerMessage.Hello {
        guard case .hello(let hello) = PeerMessage(parsing: text) else { throw TestFailure("not a hello: \(text)") }
        return hello
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
        let event = PeerMessage.event(TimelineID("tl_abc")!, seq: 7)
        #expect(event.text == #"{"type":"event","timeline":"tl_abc","seq":7}"#)
        #expect(PeerMessage(parsing: event.text) == event)
        let receipt = PeerMessage.receipt(TimelineID("tl_abc")!, user: UserID("u_abc")!, profession: .nurse, seq: 3)
        #expect(PeerMessage(parsing: receipt.text) == receipt, "the reader's profession travels to the other nodes")
        let revoke = PeerMessage.revoke(SessionID("s_abc")!)
        #expect(PeerMessage(parsing: revoke.text) == revoke)
        #expect(PeerMessage(parsing: #"{"type":"later","x":1}"#) == .unknown, "a newer peer's message is ignored")
        #expect(PeerMessage(parsing: #"{"type":"event","timeline":"tl_abc"}"#) == nil, "no seq: not a peer message")
        #expect(PeerMessage(parsing: "not json") == nil)
    }
}
