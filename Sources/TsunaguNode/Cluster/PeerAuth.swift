import Foundation
import Synchronization
import TsunaguCore
import TsunaguCrypto

/// Authenticates peer links with a key derived from the master key (never sent, never stored), so
/// only processes that hold the master key can join (docs/cluster.md, "Peer links").
///
/// The handshake binds a link to both ends and to this moment:
/// 1. the connecting node A sends `{"type":"peer","v":2,"node":A,"to":B,"ts":MILLIS,"nonce":Na,"mac":…}`,
///    mac = HMAC-SHA-256 over "tsunagu-peer/v2 hello|A|B|ts|Na";
/// 2. B checks the MAC in constant time, that the hello is addressed to B, a clock window of 30 s
///    and that Na is new, then answers `{"type":"peer-ack","node":B,"nonce":Nb,"mac":…}`, mac over
///    "tsunagu-peer/v2 ack|B|A|Na|Nb";
/// 3. both derive the link key with HKDF from the peer key, salt Na‖Nb and info naming A and B;
///    every later message carries a counter and a tag under it (`PeerFrameSealer`).
/// A hello captured on the way to one node is refused by every other node (the `to`) and by the
/// same node again (the nonce); a captured message is refused on any other link (another key) and
/// on its own link again (the counter).
final class PeerAuth: Sendable {
    let key: SymmetricKey
    static let window: Int64 = 30_000
    static let nonceBytes = 16
    private let seen = Mutex<[String: Int64]>([:])

    init(key: SymmetricKey) { self.key = key }

    /// The connecting side's half of a handshake: what it sent, and what it needs to check the ack.
    struct Opening: Sendable {
        let from: NodeID
        let to: NodeID
        let nonce: [UInt8]
        let text: String
    }

    /// A hello this node accepted: who is on the other end, and its nonce.
    struct Accepted: Sendable {
        let peer: NodeID
        let nonce: [UInt8]
    }

    func hello(from node: NodeID, to receiver: NodeID, nowMillis: Int64 = WireTime.nowMillis()) -> Opening {
        let nonce = SecureRandom.bytes(Self.nonceBytes)
        let hex = ByteEncoding.hex(nonce)
        let mac = tag(Self.helloText(node.rawValue, receiver.rawValue, nowMillis, hex))
        let text = PeerMessage.Hello(node: node.rawValue, to: receiver.rawValue, ts: nowMillis, nonce: hex, mac: mac).text
        return Opening(from: node, to: receiver, nonce: nonce, text: text)
    }

    /// The hello's sender when the hello is authentic, addressed to `receiver`, fresh and not
    /// replayed; nil otherwise.
    func verify(_ hello: PeerMessage.Hello, at receiver: NodeID, nowMillis: Int64 = WireTime.nowMillis()) -> Accepted? {
        guard hello.to == receiver.rawValue, abs(nowMillis - hello.ts) <= Self.window,
            let nonce = ByteEncoding.bytes(hex: hello.nonce), nonce.count == Self.nonceBytes,
            isValid(tag: hello.mac, Self.helloText(hello.node, hello.to, hello.ts, hello.nonce))
        else { return nil }
        let fresh = seen.withLock { seen -> Bool in
            seen = seen.filter { nowMillis - $0.value <= Self.window * 2 }
            if seen[hello.nonce] != nil { return false }
            seen[hello.nonce] = nowMillis
            return true
        }
        return fresh ? Accepted(peer: NodeID(hello.node), nonce: nonce) : nil
    }

    /// The receiver's answer to an accepted hello, and the key of the frames it will receive.
    func ack(_ accepted: Accepted, from receiver: NodeID) -> (text: String, key: PeerLinkKey) {
        let nonce = SecureRandom.bytes(Self.nonceBytes)
        let hex = ByteEncoding.hex(nonce)
        let mac = tag(Self.ackText(receiver.rawValue, accepted.peer.rawValue, ByteEncoding.hex(accepted.nonce), hex))
        let text = PeerMessage.Ack(node: receiver.rawValue, nonce: hex, mac: mac).text
        return (text, linkKey(from: accepted.peer, to: receiver, nonces: accepted.nonce + nonce))
    }

    /// The key of the frames the connecting side sends, when the ack comes from the node it
    /// opened the link to and answers its own hello; nil otherwise.
    func finish(_ opening: Opening, ack: PeerMessage.Ack) -> PeerLinkKey? {
        guard ack.node == opening.to.rawValue,
            let nonce = ByteEncoding.bytes(hex: ack.nonce), nonce.count == Self.nonceBytes,
            isValid(tag: ack.mac, Self.ackText(ack.node, opening.from.rawValue, ByteEncoding.hex(opening.nonce), ack.nonce))
        else { return nil }
        return linkKey(from: opening.from, to: opening.to, nonces: opening.nonce + nonce)
    }

    private func linkKey(from: NodeID, to: NodeID, nonces: [UInt8]) -> PeerLinkKey {
        PeerLinkKey(bytes: HKDF.sha256(inputKey: key.bytes, salt: nonces,
                                       info: Array("tsunagu-peer/v2 frames|\(from.rawValue)|\(to.rawValue)".utf8),
                                       outputLength: 32))
    }

    private func tag(_ text: String) -> String {
        ByteEncoding.hex(HMAC.sha256(key: key.bytes, data: Array(text.utf8)))
    }

    private func isValid(tag hex: String, _ text: String) -> Bool {
        guard let given = ByteEncoding.bytes(hex: hex) else { return false }
        return HMAC.isValidSHA256(tag: given, key: key.bytes, data: Array(text.utf8))
    }

    private static func helloText(_ from: String, _ to: String, _ ts: Int64, _ nonce: String) -> String {
        "tsunagu-peer/v2 hello|\(from)|\(to)|\(ts)|\(nonce)"
    }

    private static func ackText(_ from: String, _ to: String, _ helloNonce: String, _ nonce: String) -> String {
        "tsunagu-peer/v2 ack|\(from)|\(to)|\(helloNonce)|\(nonce)"
    }
}
