import Foundation
import Synchronization
import TsunaguCore
import TsunaguCrypto

/// Authenticates peer links: the connecting node's first message is
/// `{"type":"peer","node":ID,"ts":MILLIS,"nonce":HEX,"mac":HEX}` where mac = HMAC-SHA-256 over
/// "tsunagu-peer/v1|ID|ts|nonce" with a key derived from the master key (never sent, never stored).
/// The receiver checks the MAC in constant time, a clock window of 30 s, and that the nonce is new,
/// so a recorded hello cannot be replayed. Only processes that hold the master key can join.
final class PeerAuth: Sendable {
    let key: SymmetricKey
    static let window: Int64 = 30_000
    private let seen = Mutex<[String: Int64]>([:])

    init(key: SymmetricKey) { self.key = key }

    func hello(from node: NodeID, nowMillis: Int64 = WireTime.nowMillis()) -> String {
        let nonce = ByteEncoding.hex(SecureRandom.bytes(16))
        let mac = ByteEncoding.hex(HMAC.sha256(key: key.bytes, data: Array(Self.signed(node.rawValue, nowMillis, nonce).utf8)))
        return PeerMessage.Hello(node: node.rawValue, ts: nowMillis, nonce: nonce, mac: mac).text
    }

    /// The peer's node id when the hello is authentic, fresh and not replayed; nil otherwise.
    func verify(_ hello: PeerMessage.Hello, nowMillis: Int64 = WireTime.nowMillis()) -> NodeID? {
        let (node, ts, nonce, mac) = (hello.node, hello.ts, hello.nonce, hello.mac)
        guard abs(nowMillis - ts) <= Self.window, nonce.utf8.count == 32 else { return nil }
        guard let given = ByteEncoding.bytes(hex: mac),
            HMAC.isValidSHA256(tag: given, key: key.bytes, data: Array(Self.signed(node, ts, nonce).utf8))
        else { return nil }
        let fresh = seen.withLock { seen -> Bool in
            seen = seen.filter { nowMillis - $0.value <= Self.window * 2 }
            if seen[nonce] != nil { return false }
            seen[nonce] = nowMillis
            return true
        }
        return fresh ? NodeID(node) : nil
    }

    private static func signed(_ node: String, _ ts: Int64, _ nonce: String) -> String {
        "tsunagu-peer/v1|\(node)|\(ts)|\(nonce)"
    }
}
