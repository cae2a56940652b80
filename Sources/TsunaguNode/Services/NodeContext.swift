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
    /// Writes sessions' last use for the idle timeout, at most once a minute per session.
    let activity: SessionActivity
    let storeHealth: StoreHealth
    let logger: Logger
    let metrics: NodeMetrics
    /// Notices shown to clients (`GET /v1/notices`, the `notice` message).
    let noticeBoard: NoticeBoard
    /// Rules that flag possible abuse or leaks (docs/operations.md, "Monitors").
    let monitor: AbuseMonitor
    /// Coalesced audit entries of reads of patient data.
    let patientReads = PatientDataReads()
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
        self.activity = SessionActivity(store: store, clock: clock, logger: logger)
        let metrics = NodeMetrics(build: configuration.build, loops: Array(group.makeIterator()))
        self.metrics = metrics
        self.noticeBoard = NoticeBoard(store: store, connections: connections, time: configuration.time,
                                       interval: configuration.noticeRefreshInterval, logger: logger)
        self.monitor = AbuseMonitor(thresholds: configuration.monitorThresholds, store: store, metrics: metrics,
                                    time: configuration.time, logger: logger)
        self.hub = SubscriptionHub(log: store, time: configuration.time, logger: logger, timerLoop: group.next(),
                                   onRead: { seconds, delivered in
                                       metrics.repairReadSeconds.record(seconds)
                                       if delivered { metrics.repairs.increment() }
                                   },
                                   onDeliver: { metrics.deliverSeconds.record($0, on: $1) })
        self.mailWorker = configuration.mailTransport.map {
            MailDeliveryWorker(store: StoreOutbox(store: store, from: configuration.mailFrom), transport: $0,
                               logger: logger)
        }
        let auth = configuration.peerKey.map { PeerAuth(key: $0) }
        self.peerAuth = auth
        self.peers = auth.map {
            PeerMesh(nodeID: configuration.nodeID, auth: $0, tls: configuration.peerTLS?.clientContext, group: group, logger: logger,
                     dropRate: configuration.peerDropRate)
        }
    }

    var nodeID: NodeID { configuration.nodeID }
    var time: WireTime { configuration.time }
    var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }
    func setDraining() { drainingFlag.store(true, ordering: .relaxed) }

    /// The audit entry of an action by this node.
    func auditRecord(_ action: String, organization: OrganizationID?, actor: UserID?, target: String? = nil,
                     source: String?, details: String? = nil) -> AuditRecord {
        AuditRecord(organization: organization, actor: actor, action: action, target: target, source: source,
                    node: nodeID.rawValue, details: details)
    }

    /// Runs `work` with its audit entry committed in the same transaction as its first write
    /// (`HubStore.recording`): an action whose entry cannot be written fails (docs/security.md).
    func audited<T>(_ action: String, organization: OrganizationID?, actor: UserID?, target: String? = nil,
                    source: String?, details: String? = nil, _ work: () async throws -> T) async throws -> T {
        try await store.recording(auditRecord(action, organization: organization, actor: actor, target: target,
                                              source: source, details: details), work)
    }

    /// Records an entry that is the only write of what it records (a refused login, a read of
    /// patient data). A failure to record fails the request.
    func audit(_ action: String, organization: OrganizationID?, actor: UserID?, target: String? = nil,
               source: String?, details: String? = nil) async throws {
        try await store.audit(auditRecord(action, organization: organization, actor: actor, target: target,
                                          source: source, details: details))
    }

    // MARK: what happened, to local subscribers and to peers

    /// An event was committed through this node.
    /// Serialized once for this node and every peer (docs/cluster.md, "Which path carries what").
    func committed(_ event: TimelineEvent) {
        metrics.eventsCommitted.increment()
        let followedHere = hub.follows(event.timeline)
        guard followedHere || peers != nil else { return }
        let frame = FeedFrame(event: event, time: time)
        if followedHere { hub.publish(event.timeline, seq: event.seq, frame: frame) }
        peers?.announce(PeerMessage.framedEventText(event.timeline, seq: event.seq, frame: frame.peerFrame))
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

    /// Closes every socket of a revoked session on this node (4003). Idempotent: the peer message
    /// and the store's revocation record (`RevocationFollower`) both land here.
    func endSession(_ session: SessionID) {
        for connection in connections.takeConnections(of: session) { connection.sessionEnded(.revoked) }
    }

    /// Applies a revocation read from the store, as the peer message would have.
    func apply(_ revocation: Revocation.Kind) {
        switch revocation {
        case .session(let session): endSession(session)
        case .membership(let timeline, let user): hub.memberRemoved(timeline: timeline, user: user)
        case .other: break
        }
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
