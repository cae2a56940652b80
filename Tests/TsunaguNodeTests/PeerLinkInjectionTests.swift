import Foundation
import NIOCore
import Synchronization
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguCrypto
import TsunaguWebSocket
@testable import TsunaguNode

/// Issue 11 item 9 on a live node: someone who can reach a node's `/v1/peer` and has captured peer
/// traffic (but not the master key) cannot inject a revocation, a receipt or an event.
@Suite struct PeerLinkInjectionTests {
    let key = SymmetricKey.random()

    /// A raw peer-link client: what an attacker or a test holds.
    final class RawPeer: Sendable {
        /// What the node sent, in order.
        final class Inbox: Sendable {
            let texts = Mutex<[String]>([])
        }

        let client: WebSocketClient
        private let box: Inbox

        private init(client: WebSocketClient, box: Inbox) {
            self.client = client
            self.box = box
        }

        static func connect(port: Int, group: any EventLoopGroup) async throws -> RawPeer {
            let box = Inbox()
            let client = try await WebSocketClient.connect(
                host: "127.0.0.1", port: port, configuration: .init(path: "/v1/peer"), group: group,
                onText: { text in box.texts.withLock { $0.append(String(buffer: text)) } }, onClose: { _, _ in }
            ).get()
            return RawPeer(client: client, box: box)
        }

        /// The next text the node sent, or nil when none comes within `timeout`.
        func next(timeout: Duration = .seconds(3)) async -> String? {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let text = box.texts.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return text }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return nil
        }

        /// Whether the node closed the link within `timeout`.
        func closedByNode(within timeout: Duration = .seconds(3)) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while client.isOpen && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            return !client.isOpen
        }
    }

    /// A hello in the format nodes sent before this fix (signed node, time and nonce, no
    /// receiver): a capture of one, or a fresh one, let anyone with the capture send anything.
    private func oldFormatHello(from node: String) -> String {
        let ts = WireTime.nowMillis()
        let nonce = ByteEncoding.hex(SecureRandom.bytes(16))
        let mac = ByteEncoding.hex(HMAC.sha256(key: key.bytes, data: Array("tsunagu-peer/v1|\(node)|\(ts)|\(nonce)".utf8)))
        return #"{"type":"peer","node":"\#(node)","ts":\#(ts),"nonce":"\#(nonce)","mac":"\#(mac)"}"#
    }

    @Test func item9_anInjectedRevocationDoesNothing() async throws {
        try await withLiveNode({ $0.peerKey = key }) { live in
            let (token, session) = try await live.store.createSession(user: live.nurse, lifetimeSeconds: 600)
            let nurse = try await live.session(token)
            let revoke = PeerMessage.revoke(session.id).text

            // 1. a hello of the old format, then a revocation in the clear
            let old = try await RawPeer.connect(port: live.port, group: live.group)
            old.client.send(oldFormatHello(from: "n_other"))
            old.client.send(revoke)
            #expect(await old.closedByNode(), "an old-format hello is refused")

            // 2. a hello captured on its way to another node, replayed here
            let captured = PeerAuth(key: key).hello(from: NodeID("n_a"), to: NodeID("n_elsewhere")).text
            let replayed = try await RawPeer.connect(port: live.port, group: live.group)
            replayed.client.send(captured)
            replayed.client.send(revoke)
            #expect(await replayed.next() == nil, "no ack for a hello addressed to another node")
            #expect(await replayed.closedByNode())

            // 3. an authentic link (as its rightful sender opens it), then an unsealed revocation
            //    slipped in: the link closes
            let auth = PeerAuth(key: key)
            let opening = auth.hello(from: NodeID("n_a"), to: NodeID("n_test"))
            let link = try await RawPeer.connect(port: live.port, group: live.group)
            link.client.send(opening.text)
            let ackText = try #require(await link.next(), "the node acks an authentic hello")
            guard case .ack(let ack) = PeerMessage(parsing: ackText) else { throw TestFailure("not an ack: \(ackText)") }
            let linkKey = try #require(auth.finish(opening, ack: ack))
            link.client.send(revoke)
            #expect(await link.closedByNode(), "an unsealed message closes the link")

            // 4. the same hello again (replayed on a new connection) gets nothing
            let again = try await RawPeer.connect(port: live.port, group: live.group)
            again.client.send(opening.text)
            #expect(await again.next() == nil)
            #expect(await again.closedByNode())

            // 5. a new authentic link: a sealed frame replayed with its counter closes the link
            let fresh = auth.hello(from: NodeID("n_a"), to: NodeID("n_test"))
            let second = try await RawPeer.connect(port: live.port, group: live.group)
            second.client.send(fresh.text)
            guard case .ack(let secondAck) = PeerMessage(parsing: try #require(await second.next())) else {
                throw TestFailure("no ack")
            }
            var sealer = PeerFrameSealer(key: try #require(auth.finish(fresh, ack: secondAck)))
            let event = sealer.seal(PeerMessage.event(live.timeline, seq: 1, frame: nil).text)
            second.client.send(event)
            second.client.send(event)  // replayed counter
            #expect(await second.closedByNode(), "a replayed counter closes the link")
            // frames sealed for the first link are worthless on any other
            var firstSealer = PeerFrameSealer(key: linkKey)
            let third = try await RawPeer.connect(port: live.port, group: live.group)
            let thirdOpening = auth.hello(from: NodeID("n_a"), to: NodeID("n_test"))
            third.client.send(thirdOpening.text)
            _ = await third.next()
            third.client.send(firstSealer.seal(revoke))
            #expect(await third.closedByNode(), "a frame sealed under another link's key closes the link")

            // the nurse's session was never ended
            let reply = try await nurse.subscribe(live.timeline)
            #expect(reply["type"]?.stringValue == "ok", "\(reply)")
            #expect(nurse.isOpen)
            #expect(try await live.store.session(token: token) != nil)
        }
    }
}
