import Foundation
import Testing
import TsunaguCore
import TsunaguCrypto
@testable import TsunaguNode

@Suite struct PeerAuthTests {
    let key = SymmetricKey.random()
    let a = NodeID("n_a"), b = NodeID("n_b"), c = NodeID("n_c")

    private func decode(_ text: String) throws -> PeerMessage.Hello {
        guard case .hello(let hello) = PeerMessage(parsing: text) else { throw TestFailure("not a hello: \(text)") }
        return hello
    }

    private func decodeAck(_ text: String) throws -> PeerMessage.Ack {
        guard case .ack(let ack) = PeerMessage(parsing: text) else { throw TestFailure("not an ack: \(text)") }
        return ack
    }

    @Test func anAuthenticHelloIsAcceptedOnce() throws {
        let auth = PeerAuth(key: key)
        let hello = try decode(PeerAuth(key: key).hello(from: a, to: b).text)
        #expect(auth.verify(hello, at: b)?.peer == a)
        #expect(auth.verify(hello, at: b) == nil, "a replayed hello must be refused")
    }

    @Test func anotherKeyATamperedFieldOrAStaleClockIsRefused() throws {
        let auth = PeerAuth(key: key)
        #expect(auth.verify(try decode(PeerAuth(key: .random()).hello(from: a, to: b).text), at: b) == nil)
        var renamed = try decode(PeerAuth(key: key).hello(from: a, to: b).text)
        renamed.node = "n_c"
        #expect(auth.verify(renamed, at: b) == nil)
        let stale = try decode(PeerAuth(key: key).hello(from: a, to: b, nowMillis: WireTime.nowMillis() - 60_000).text)
        #expect(auth.verify(stale, at: b) == nil)
        var noMAC = try decode(PeerAuth(key: key).hello(from: a, to: b).text)
        noMAC.mac = "zz"
        #expect(auth.verify(noMAC, at: b) == nil)
    }

    /// Issue 11 item 9: a hello is bound to the node it was sent to. One captured on its way to
    /// b is refused by c, also with the field rewritten; a hello without a receiver (the old
    /// format, which any node accepted) is no hello at all.
    @Test func item9_aHelloReplayedToAnotherNodeIsRefused() throws {
        let captured = try decode(PeerAuth(key: key).hello(from: a, to: b).text)
        #expect(PeerAuth(key: key).verify(captured, at: c) == nil)
        var readdressed = captured
        readdressed.to = c.rawValue
        #expect(PeerAuth(key: key).verify(readdressed, at: c) == nil, "the MAC covers the receiver")
        #expect(PeerAuth(key: key).verify(captured, at: b)?.peer == a)
        let oldFormat = #"{"type":"peer","node":"n_a","ts":\#(WireTime.nowMillis()),"nonce":"\#(String(repeating: "ab", count: 16))","mac":"00"}"#
        #expect(PeerMessage(parsing: oldFormat) == nil)
    }

    /// Both ends derive one link key from both nonces; an ack from another node, another key or
    /// for another hello keys nothing.
    @Test func item9_bothEndsKeyTheLinkFromBothNoncesAndAForgedAckIsRefused() throws {
        let opener = PeerAuth(key: key), receiver = PeerAuth(key: key)
        let opening = opener.hello(from: a, to: b)
        let accepted = try #require(receiver.verify(try decode(opening.text), at: b))
        let (ackText, receiverKey) = receiver.ack(accepted, from: b)
        let ack = try decodeAck(ackText)
        #expect(opener.finish(opening, ack: ack) == receiverKey)
        #expect(opener.finish(opener.hello(from: a, to: b), ack: ack) == nil, "an ack answers one hello")
        #expect(opener.finish(opener.hello(from: a, to: c), ack: ack) == nil, "an ack names its node")
        let forged = PeerAuth(key: .random()).ack(accepted, from: b).text
        #expect(opener.finish(opening, ack: try decodeAck(forged)) == nil)
        // a second link between the same nodes gets another key
        let again = opener.hello(from: a, to: b)
        let (_, otherKey) = receiver.ack(try #require(receiver.verify(try decode(again.text), at: b)), from: b)
        #expect(otherKey != receiverKey)
    }

    /// Issue 11 item 9: every message after the hello carries a counter and a tag under the link
    /// key. A bad tag, a replayed or skipped counter, or a frame from another link does not open.
    @Test func item9_aMessageWithABadTagOrAReplayedCounterIsRefused() throws {
        let linkKey = PeerLinkKey(bytes: SecureRandom.bytes(32))
        var sealer = PeerFrameSealer(key: linkKey)
        let revoke = PeerMessage.revoke(SessionID("s_abc")!).text
        let first = sealer.seal(PeerMessage.event(TimelineID("tl_abc")!, seq: 1, frame: nil).text)
        let second = sealer.seal(revoke)
        let third = sealer.seal(revoke)

        var receiver = PeerFrameOpener(key: linkKey)
        #expect(receiver.open(revoke) == nil, "an unsealed message")
        #expect(receiver.open(second) == nil, "a skipped counter")
        #expect(receiver.open(first) != nil)
        #expect(receiver.open(first) == nil, "a replayed counter")
        var tampered = Array(second.utf8)
        tampered[tampered.count - 3] ^= 0x01
        #expect(receiver.open(String(decoding: tampered, as: UTF8.self)) == nil, "a changed message")
        #expect(receiver.open(second) == revoke)
        #expect(receiver.open(third) == revoke)

        var otherLink = PeerFrameOpener(key: PeerLinkKey(bytes: SecureRandom.bytes(32)))
        #expect(otherLink.open(first) == nil, "a frame from another link")
    }

    @Test func peerMessagesRoundTrip() throws {
        let hint = PeerMessage.event(TimelineID("tl_abc")!, seq: 7, frame: nil)
        #expect(hint.text == #"{"type":"event","timeline":"tl_abc","seq":7}"#)
        #expect(PeerMessage(parsing: hint.text) == hint)
        // an event travels with its frame, escaped as a JSON string, and the member a leave removes
        let frame = PeerMessage.EventFrame(text: #"{"type":"event","body":"a \"quoted\" line\n"}"#, atMillis: 1_700_000_000_123,
                                           leaving: UserID("u_abc")!)
        let framed = PeerMessage.framedEventText(TimelineID("tl_abc")!, seq: 8, frame: frame)
        #expect(PeerMessage(parsing: framed) == .event(TimelineID("tl_abc")!, seq: 8, frame: frame))
        // too large for one peer message: the (timeline, seq) alone, read from the store
        let large = PeerMessage.EventFrame(text: String(repeating: #"\u0001"#, count: 16_384), atMillis: 1, leaving: nil)
        let hinted = PeerMessage.framedEventText(TimelineID("tl_abc")!, seq: 9, frame: large)
        #expect(PeerMessage(parsing: hinted) == .event(TimelineID("tl_abc")!, seq: 9, frame: nil))
        #expect(PeerMessage(parsing: #"{"type":"event","timeline":"tl_abc","seq":1,"at":1,"leaving":"bad id","frame":"{}"}"#) == nil,
                "a malformed leaving user: not a peer message")
        let receipt = PeerMessage.receipt(TimelineID("tl_abc")!, user: UserID("u_abc")!, profession: .nurse, seq: 3)
        #expect(PeerMessage(parsing: receipt.text) == receipt, "the reader's profession travels to the other nodes")
        let revoke = PeerMessage.revoke(SessionID("s_abc")!)
        #expect(PeerMessage(parsing: revoke.text) == revoke)
        #expect(PeerMessage(parsing: #"{"type":"later","x":1}"#) == .unknown, "a newer peer's message is ignored")
        #expect(PeerMessage(parsing: #"{"type":"event","timeline":"tl_abc"}"#) == nil, "no seq: not a peer message")
        #expect(PeerMessage(parsing: "not json") == nil)
        // An event's timeline is read off the start of its text (a node that follows nothing of
        // it drops it unparsed); anything else has none.
        #expect(PeerMessage.eventTimeline(peeking: framed) == TimelineID("tl_abc"))
        #expect(PeerMessage.eventTimeline(peeking: hint.text) == TimelineID("tl_abc"))
        #expect(PeerMessage.eventTimeline(peeking: receipt.text) == nil)
        #expect(PeerMessage.eventTimeline(peeking: #"{"type":"event","timeline":"not an id","seq":1}"#) == nil)
        #expect(PeerMessage.eventTimeline(peeking: #"{"type":"event","timeline":"tl_abc"#) == nil)
    }
}
