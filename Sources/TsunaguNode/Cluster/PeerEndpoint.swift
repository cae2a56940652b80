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
    private static let decoder = JSONDecoder()

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
        guard let message = try? Self.decoder.decode(PeerMessage.self, from: Data(text.utf8)) else {
            return connection.close(code: .policyViolation, reason: "not a peer message")
        }
        guard peer != nil else {
            guard let node = auth.verify(message) else {
                context.logger.warning("peer link refused: bad hello", metadata: ["tsunagu.node": "\(context.nodeID)"])
                return connection.close(code: .policyViolation, reason: "peer authentication failed")
            }
            peer = node
            helloTimer?.cancel()
            return
        }
        switch message.type {
        case "event":
            if let timeline = message.timeline.flatMap(TimelineID.init), let seq = message.seq {
                context.hub.heard(timeline: timeline, seq: seq)
            }
        case "receipt":
            if let timeline = message.timeline.flatMap(TimelineID.init), let user = message.user.flatMap(UserID.init),
                let seq = message.seq {
                context.hub.publishReceipt(timeline: timeline, user: user, seq: seq)
            }
        case "revoke":
            if let session = message.session.flatMap(SessionID.init) { context.endSession(session) }
        default:
            break  // newer peers may send more; ignoring keeps mixed versions working during upgrades
        }
    }

    func webSocketDidClose(_ connection: WebSocketConnection) {
        helloTimer?.cancel()
    }
}
