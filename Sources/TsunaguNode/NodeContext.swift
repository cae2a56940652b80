import Logging
import NIOCore
import NIOPosix
import Synchronization
import TsunaguCore
import TsunaguCrypto
import TsunaguMail
import TsunaguStore

/// The services every connection of a node shares.
final class NodeContext: Sendable {
    let configuration: NodeConfiguration
    let store: HubStore
    let hub: SubscriptionHub
    let passwords: PasswordHasher
    let logger: Logger
    /// Outbound peer links, when the node is part of a cluster.
    let peers: PeerMesh?
    let peerAuth: PeerAuth?
    let metrics = NodeMetrics()
    /// Delivers the outbox when the node sends mail.
    let mailWorker: MailDeliveryWorker?
    /// Threads for CPU-heavy work (password hashing), started and stopped with the node.
    let blockingPool = NIOThreadPool(numberOfThreads: 2)
    private let drainingFlag = Atomic<Bool>(false)
    private let storeAnsweredAt = Atomic<Int64>(0)
    /// Every open `/v1/ws` session, authenticated or not (drain tells each to reconnect).
    let clients = Mutex<[ObjectIdentifier: ClientSession]>([:])
    private let dummyHash: String

    init(configuration: NodeConfiguration, store: HubStore, passwords: PasswordHasher, logger: Logger,
         group: any EventLoopGroup) {
        self.configuration = configuration
        self.store = store
        self.passwords = passwords
        self.dummyHash = passwords.hash("tsunagu-dummy-password")
        self.logger = logger
        let metrics = self.metrics
        self.hub = SubscriptionHub(store: store, time: configuration.time, logger: logger,
                                   onRepairRead: { metrics.repairs.increment() })
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
        peers?.announce(PeerMessage.event(event.timeline, event.seq))
    }

    func receiptMoved(timeline: TimelineID, user: UserID, seq: Int64) {
        metrics.receipts.increment()
        hub.publishReceipt(timeline: timeline, user: user, seq: seq)
        peers?.announce(PeerMessage.receipt(timeline, user, seq))
    }

    func sessionRevoked(_ session: SessionID) {
        hub.endSession(session)
        peers?.announce(PeerMessage.revoke(session))
    }

    var nodeID: NodeID { configuration.nodeID }
    var time: WireTime { configuration.time }
    var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }
    func setDraining() { drainingFlag.store(true, ordering: .relaxed) }

    /// Readiness checks the store without queueing behind client work: a once-a-second ping
    /// (NodeServer) records when the store last answered, and `/readyz` reads that. During a
    /// reconnect storm a probe that waited for a store read behind thousands of `auth`s would time
    /// out and take a healthy node out of every balancer.
    func checkStore() async {
        do {
            try await store.ping()
            storeAnsweredAt.store(WireTime.nowMillis(), ordering: .relaxed)
        } catch is CancellationError {
            return  // the node is stopping
        } catch {
            logger.warning("store ping failed", metadata: ["tsunagu.error": "\(error)"])
        }
    }

    /// The store answered a ping within the last 5 s.
    var storeAnsweredRecently: Bool {
        WireTime.nowMillis() - storeAnsweredAt.load(ordering: .relaxed) < 5_000
    }

    /// Maps an error for a client and logs what the client does not see.
    func failure(_ error: any Error, operation: String) -> (code: WireErrorCode, message: String) {
        WireFailure.describe(error) { correlation, error in
            logger.error("request failed", metadata: [
                "tsunagu.operation": "\(operation)", "tsunagu.correlation": "\(correlation)",
                "tsunagu.error": "\(String(reflecting: type(of: error))): \(error)",
            ])
        }
    }

    /// The second factor: where the user's organization requires a client certificate, the
    /// connection must have presented one that the user registered.
    func checkSecondFactor(_ user: UserRecord, fingerprint: [UInt8]?) async throws {
        guard try await store.requiresClientCertificate(user.organization) else { return }
        guard let fingerprint, try await store.isCertificateRegistered(user: user.id, fingerprint: fingerprint) else {
            throw HubError.clientCertificateRequired
        }
    }

    /// Hashes a new password on the blocking pool (scrypt is slow by design).
    func hashPassword(_ password: String) async throws -> String {
        let passwords = self.passwords
        return try await blockingPool.runIfActive { passwords.hash(password) }
    }

    /// Checks a password in constant time; for an unknown user a dummy hash is checked anyway so
    /// that timing does not reveal which addresses exist. scrypt takes tens of milliseconds and
    /// 32 MiB by design, so it runs on a dedicated thread pool, never on the event loops or the
    /// cooperative pool that every connection's task shares.
    func verifyPassword(_ password: String, hash: String?) async throws -> Bool {
        let passwords = self.passwords
        let stored = hash ?? dummyHash
        let valid = try await blockingPool.runIfActive { passwords.verify(password, against: stored) }
        return hash != nil && valid
    }
}
