import Logging
import NIOCore
import Synchronization
import TsunaguCore
import TsunaguMail
import TsunaguRealtime
import TsunaguStore

/// What the handlers of one node share: its configuration, the store and the services built on
/// it, and what happened that others must hear of (`committed`, `receiptMoved`,
/// `sessionRevoked`: to local subscribers and to peers). Built once by `NodeServer`.
final class NodeContext: Sendable {
    let configuration: NodeConfiguration
    let store: HubStore
    /// The store seen through the realtime core's interfaces.
    let sessions: any SessionAuthority<SessionRecord>
    let clock: any WallClock
    let hub: SubscriptionHub
    let connections = ConnectionRegistry()
    let passwords: PasswordChecker
    let storeHealth: StoreHealth
    let logger: Logger
    let metrics = NodeMetrics()
    /// Open connections in total and per client address, against the configured caps.
    let connectionGate: ConnectionGate
    /// Posts per user on this node (`rate_limited` beyond the burst).
    let postLimiter: PostRateLimiter
    /// Outbound peer links, when the node is part of a cluster.
    let peers: PeerMesh?
    let peerAuth: PeerAuth?
    /// Delivers the outbox when the node sends mail (routes wake it when they queue a mail).
    let mailWorker: MailDeliveryWorker?
    private let drainingFlag = Atomic<Bool>(false)

    init(configuration: NodeConfiguration, store: HubStore, passwords: PasswordChecker, clock: any WallClock,
         logger: Logger, group: any EventLoopGroup) {
        self.configuration = configuration
        self.store = store
        self.sessions = store
        self.clock = clock
        self.passwords = passwords
        self.logger = logger
        self.connectionGate = ConnectionGate(maxConnections: configuration.maxConnections,
                                             maxPerSource: configuration.maxConnectionsPerSource)
        self.postLimiter = PostRateLimiter(burst: configuration.postBurst,
                                           windowMillis: Int64(configuration.postWindowSeconds) * 1000)
        self.storeHealth = StoreHealth(store: store, clock: clock, logger: logger)
        let metrics = self.metrics
        self.hub = SubscriptionHub(log: store, time: configuration.time, logger: logger, timerLoop: group.next(),
                                   onRead: { metrics.repairs.increment() })
        self.mailWorker = configuration.mailTransport.map {
            MailDeliveryWorker(store: StoreOutbox(store: store, from: configuration.mailFrom), transport: $0,
                               logger: logger)
        }
        let auth = configuration.peerKey.map { PeerAuth(key: $0) }
        self.peerAuth = auth
        self.peers = auth.map {
            PeerMesh(nodeID: configuration.nodeID, auth: $0, group: group, logger: logger,
                     dropRate: configuration.peerDropRate)
        }
    }

    var nodeID: NodeID { configuration.nodeID }
    var time: WireTime { configuration.time }
    var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }
    func setDraining() { drainingFlag.store(true, ordering: .relaxed) }

    /// Records an audit entry; a failure to record is logged, never shown to the client.
    func audit(_ action: String, organization: OrganizationID?, actor: UserID?, target: String? = nil,
               source: String?, details: String? = nil) async {
        do {
            try await store.audit(AuditRecord(organization: organization, actor: actor, action: action, target: target,
                                              source: source, node: nodeID.rawValue, details: details))
        } catch {
            logger.error("audit entry not recorded", metadata: ["tsunagu.action": "\(action)", "tsunagu.error": "\(error)"])
        }
    }

    // MARK: what happened, to local subscribers and to peers

    /// An event was committed through this node.
    func committed(_ event: TimelineEvent) {
        metrics.eventsCommitted.increment()
        hub.publish(event)
        peers?.announce(PeerMessage.event(event.timeline, seq: event.seq).text)
    }

    func receiptMoved(timeline: TimelineID, user: UserID, profession: Profession, seq: Int64) {
        metrics.receipts.increment()
        hub.publishReceipt(timeline: timeline, user: user, profession: profession, seq: seq)
        peers?.announce(PeerMessage.receipt(timeline, user: user, profession: profession, seq: seq).text)
    }

    func sessionRevoked(_ session: SessionID) {
        endSession(session)
        peers?.announce(PeerMessage.revoke(session).text)
    }

    /// Closes every socket of a revoked session on this node (4003).
    func endSession(_ session: SessionID) {
        for connection in connections.takeConnections(of: session) { connection.sessionEnded(.revoked) }
    }

    /// Maps an error for a client and logs what the client does not see.
    func failure(_ error: any Error, operation: String) -> (code: WireErrorCode, message: String) {
        WireMapping.failure(error) { correlation, error in
            logger.error("request failed", metadata: [
                "tsunagu.operation": "\(operation)", "tsunagu.correlation": "\(correlation)",
                "tsunagu.error": "\(String(reflecting: type(of: error))): \(error)",
            ])
        }
    }
}
