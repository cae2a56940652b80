import Foundation
import NIOCore
import TsunaguCore
import TsunaguWebSocket

/// The receiving end of a peer link (`/v1/peer`): after an authentic hello, every notification is
/// handed to the hub, which reads the events from the store.
final class PeerEndpoint: WebSocketMessageDelegate, @unchecked Sendable {
    private let context: NodeContext
    private let auth: PeerAuth
    private var peer: NodeID?
    private var helloTimer: Scheduled<Void>?

    init(context: NodeContext, auth: PeerAuth) {
        self.context = context
        self.auth = auth
    }

    func webSocketDidOpen(_ connection: WebSocketConnection) {
        helloTimer = connection.eventLoop.scheduleTask(in: .seconds(5)) { [weak self] in
            if self?.peer == nil { connection.close(code: .policyViolation, reason: "no peer hello") }
        }
    }

    func webSocket(_ connection: WebSocketConnection, didReceiveText text: String) {
        guard let message = PeerMessage(parsing: text) else {
            return connection.close(code: .policyViolation, reason: "not a peer message")
        }
        guard peer != nil else {
            guard case .hello(let hello) = message, let node = auth.verify(hello) else {
                context.logger.warning("peer link refused: bad hello", metadata: ["tsunagu.node": "\(context.nodeID)"])
                return connection.close(code: .policyViolation, reason: "peer authentication failed")
            }
            peer = node
            helloTimer?.cancel()
            return
        }
        switch message {
        case .event(let timeline, let seq):
            context.hub.heard(timeline: timeline, seq: seq)
        case .receipt(let timeline, let user, let profession, let seq):
            context.hub.publishReceipt(timeline: timeline, user: user, profession: profession, seq: seq)
        case .revoke(let session):
            context.endSession(session)
        case .hello, .unknown:
            break  // newer peers may send more; ignoring keeps mixed versions working during upgrades
        }
    }

    func webSocketDidClose(_ connection: WebSocketConnection) {
        helloTimer?.cancel()
    }
}
