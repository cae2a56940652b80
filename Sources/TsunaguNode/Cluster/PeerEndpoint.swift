import Foundation
import NIOCore
import TsunaguCore
import TsunaguWebSocket

/// The receiving end of a peer link (`/v1/peer`): an authentic hello addressed to this node gets
/// an ack (`PeerAuth`); after it, every message must open under the link key with the next
/// counter (`PeerFrameOpener`), or the link closes. Events with their frames go to the hub as
/// commits; an event without one (too large for a peer message) is read from the store.
final class PeerEndpoint: WebSocketMessageDelegate, @unchecked Sendable {
    private let context: NodeContext
    private let auth: PeerAuth
    /// Over peer TLS, the node ids the peer's certificate names: the hello must claim one of them.
    /// nil on a plaintext (loopback) link.
    private let certifiedNodeIDs: Set<String>?
    private var peer: NodeID?
    private var opener: PeerFrameOpener?
    private var helloTimer: Scheduled<Void>?

    init(context: NodeContext, auth: PeerAuth, certifiedNodeIDs: Set<String>?) {
        self.context = context
        self.auth = auth
        self.certifiedNodeIDs = certifiedNodeIDs
    }

    func webSocketDidOpen(_ connection: WebSocketConnection) {
        helloTimer = connection.eventLoop.scheduleTask(in: .seconds(5)) { [weak self] in
            if self?.peer == nil { connection.close(code: .policyViolation, reason: "no peer hello") }
        }
    }

    func webSocket(_ connection: WebSocketConnection, didReceiveText text: String) {
        guard var opener else { return handshake(connection, text) }
        guard let opened = opener.open(text) else { return refuse(connection) }
        self.opener = opener
        // Authentic and counted. An event for a timeline nobody here follows is dropped before
        // its frame is parsed (most of a busy cluster's events, for each node).
        if let timeline = PeerMessage.eventTimeline(peeking: opened), !context.hub.follows(timeline) { return }
        guard let message = PeerMessage(parsing: opened) else { return refuse(connection) }
        switch message {
        case .event(let timeline, let seq, let frame?):
            context.hub.publish(timeline, seq: seq, frame: FeedFrame(peer: frame))
        case .event(let timeline, let seq, nil):
            context.hub.heard(timeline: timeline, seq: seq)
        case .receipt(let timeline, let user, let profession, let seq):
            context.hub.publishReceipt(timeline: timeline, user: user, profession: profession, seq: seq)
        case .revoke(let session):
            context.endSession(session)
        case .hello, .ack, .unknown:
            break  // newer peers may send more; ignoring keeps mixed versions working during upgrades
        }
    }

    /// A message that failed authentication, or is no peer message: the link closes.
    private func refuse(_ connection: WebSocketConnection) {
        context.logger.warning("peer link closed: a message failed authentication",
                               metadata: ["tsunagu.node": "\(context.nodeID)", "tsunagu.peer": "\(peer?.rawValue ?? "")"])
        opener = nil  // with `peer` set, anything more is refused too
        connection.close(code: .policyViolation, reason: "peer message authentication failed")
    }

    private func handshake(_ connection: WebSocketConnection, _ text: String) {
        guard peer == nil, case .hello(let hello) = PeerMessage(parsing: text),
            certifiedNodeIDs?.contains(hello.node) ?? true,
            let accepted = auth.verify(hello, at: context.nodeID)
        else {
            context.logger.warning("peer link refused: bad hello", metadata: ["tsunagu.node": "\(context.nodeID)"])
            return connection.close(code: .policyViolation, reason: "peer authentication failed")
        }
        let (ack, key) = auth.ack(accepted, from: context.nodeID)
        peer = accepted.peer
        opener = PeerFrameOpener(key: key)
        helloTimer?.cancel()
        _ = connection.send(text: ack)
    }

    func webSocketDidClose(_ connection: WebSocketConnection) {
        helloTimer?.cancel()
    }
}
