import Logging
import NIOCore
import NIOSSL
import Synchronization
import TsunaguCore
import TsunaguStore
import TsunaguWebSocket

/// This node's outbound peer links: one WebSocket to `/v1/peer` of every other live node, over
/// which it announces what it committed. Links follow the registry (updated every heartbeat);
/// a notification for a peer whose link is down (or still in its handshake) is dropped — that
/// peer's repair sweep reads it from the store within a second.
///
/// With peer TLS the link runs over TLS with this node's cluster certificate, and the peer's
/// certificate must name the node id the registry lists at that address; without it, links go
/// to loopback addresses only (docs/cluster.md, "Peer links").
final class PeerMesh: Sendable {
    private enum Link {
        case connecting
        /// Hello sent, waiting for the ack that keys the link.
        case handshaking(WebSocketClient)
        case connected(PeerLinkSender)

        var connection: WebSocketClient? {
            switch self {
            case .connecting: nil
            case .handshaking(let connection): connection
            case .connected(let sender): sender.connection
            }
        }
    }

    private let nodeID: NodeID
    private let auth: PeerAuth
    private let tls: NIOSSLContext?
    private let group: any EventLoopGroup
    private let logger: Logger
    private let links = Mutex<[NodeID: (address: String, link: Link)]>([:])
    /// Peers already reported as unreachable without TLS, so the log says it once per peer.
    private let refusedPlaintext = Mutex<Set<NodeID>>([])
    /// For fault-injection tests only: the fraction of announcements dropped on purpose.
    private let dropRate: Double

    init(nodeID: NodeID, auth: PeerAuth, tls: NIOSSLContext?, group: any EventLoopGroup, logger: Logger,
         dropRate: Double = 0) {
        self.nodeID = nodeID
        self.auth = auth
        self.tls = tls
        self.group = group
        self.logger = logger
        self.dropRate = dropRate
    }

    /// Connects to live nodes it has no link to and closes links to nodes that left.
    func update(liveNodes: [NodeRecord]) {
        let wanted = Dictionary(liveNodes.filter { $0.id != nodeID && reachable($0) }.map { ($0.id, $0) },
                                uniquingKeysWith: { a, _ in a })
        let (toOpen, toClose) = links.withLock { links -> ([NodeRecord], [WebSocketClient]) in
            var closing: [WebSocketClient] = []
            for (id, entry) in links where wanted[id].map({ "\($0.host):\($0.port)" }) != entry.address {
                if let connection = entry.link.connection { closing.append(connection) }
                links[id] = nil
            }
            let opening = wanted.values.filter { links[$0.id] == nil }
            for node in opening { links[node.id] = ("\(node.host):\(node.port)", .connecting) }
            return (opening, closing)
        }
        for connection in toClose { connection.close() }
        for node in toOpen { open(node) }
    }

    /// Plaintext peer links only on loopback: without peer TLS, a peer elsewhere is not linked
    /// (it still gets every event through its repair sweep) and the log says why, once.
    private func reachable(_ node: NodeRecord) -> Bool {
        guard tls == nil, !CIDR.isLoopback(host: node.host) else { return true }
        let first = refusedPlaintext.withLock { $0.insert(node.id).inserted }
        if first {
            logger.error("no peer link to a node off loopback without peer TLS; give every node --peer-tls-cert, --peer-tls-key and --peer-tls-ca",
                         metadata: ["tsunagu.peer": "\(node.id)", "tsunagu.peer.address": "\(node.host):\(node.port)"])
        }
        return false
    }

    private func open(_ node: NodeRecord) {
        let id = node.id
        let address = "\(node.host):\(node.port)"
        let opening = auth.hello(from: nodeID, to: id)
        var configuration = WebSocketClient.Configuration(path: "/v1/peer")
        if let tls {
            configuration.prelude = { channel in
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: tls, serverHostname: PeerTLS.serverName))
            }
        }
        WebSocketClient.connect(host: node.host, port: node.port, configuration: configuration, group: group,
                                onText: { [weak self] text in
                                    self?.acked(id, address: address, opening: opening, text: String(buffer: text))
                                },
                                onClose: { [weak self] _, _ in self?.dropLink(id, address: address) })
            .whenComplete { [weak self] result in
                guard let self else { return }
                switch result {
                case .success(let connection):
                    // Over TLS the chain is the cluster CA's; it must also name the node the
                    // registry lists here, or another member could stand in for it.
                    if self.tls != nil && !PeerTLS.certifiedNodeIDs(of: connection.channel).contains(id.rawValue) {
                        self.logger.warning("peer link refused: the certificate does not name the node",
                                            metadata: ["tsunagu.peer": "\(id)"])
                        connection.close()
                        return self.dropLink(id, address: address)
                    }
                    let kept = self.links.withLock { links -> Bool in
                        guard links[id]?.address == address else { return false }
                        links[id] = (address, .handshaking(connection))
                        return true
                    }
                    guard kept else { return connection.close() }
                    connection.send(opening.text)
                    // A peer that never acks (hung, or an older version that knows no ack) must
                    // not hold the slot: the link is dropped and tried again at a later heartbeat.
                    connection.eventLoop.scheduleTask(in: Self.handshakeTimeout) { [weak self] in
                        self?.abandonHandshake(id, address: address, connection: connection)
                    }
                case .failure:
                    self.dropLink(id, address: address)
                }
            }
    }

    /// The peer's answer to the hello: keys the link, or ends it.
    private func acked(_ id: NodeID, address: String, opening: PeerAuth.Opening, text: String) {
        let key: PeerLinkKey? = if case .ack(let ack) = PeerMessage(parsing: text) { auth.finish(opening, ack: ack) } else { nil }
        let (connection, keyed) = links.withLock { links -> (WebSocketClient?, Bool) in
            guard let entry = links[id], entry.address == address, case .handshaking(let connection) = entry.link else {
                return (nil, false)
            }
            guard let key else { return (connection, false) }
            links[id] = (address, .connected(PeerLinkSender(connection: connection, key: key)))
            return (connection, true)
        }
        if let connection, !keyed {
            logger.warning("peer link refused: bad ack", metadata: ["tsunagu.peer": "\(id)"])
            connection.close()
        }
    }

    static let handshakeTimeout: TimeAmount = .seconds(5)

    private func abandonHandshake(_ id: NodeID, address: String, connection: WebSocketClient) {
        let waiting = links.withLock { links -> Bool in
            guard let entry = links[id], entry.address == address, case .handshaking(let pending) = entry.link,
                pending === connection
            else { return false }
            links[id] = nil
            return true
        }
        if waiting {
            logger.warning("peer link dropped: no ack", metadata: ["tsunagu.peer": "\(id)"])
            connection.close()
        }
    }

    private func dropLink(_ id: NodeID, address: String) {
        links.withLock { links in
            if links[id]?.address == address { links[id] = nil }
        }
    }

    /// Sends one notification to every connected peer.
    func announce(_ text: String) {
        if dropRate > 0 && Double.random(in: 0..<1) < dropRate { return }
        let senders = links.withLock { links in
            links.values.compactMap { entry -> PeerLinkSender? in
                if case .connected(let sender) = entry.link { return sender }
                return nil
            }
        }
        for sender in senders { sender.send(text) }
    }

    var connectedPeers: Int {
        links.withLock { $0.values.filter { if case .connected = $0.link { true } else { false } }.count }
    }

    func closeAll() {
        let connections = links.withLock { links -> [WebSocketClient] in
            defer { links = [:] }
            return links.values.compactMap { $0.link.connection }
        }
        for connection in connections { connection.close() }
    }
}

/// One keyed peer link: seals each message with the next counter under one lock and writes what
/// was sealed in one task on the connection's event loop, so frames leave in counter order
/// whichever threads announce at once. Messages sealed while that task waits go out with it, in one
/// flush: under load a burst of commits costs one task and one write on each side of the link, not
/// one per message (docs/cluster.md, "Peer links").
final class PeerLinkSender: Sendable {
    let connection: WebSocketClient
    private struct State {
        var sealer: PeerFrameSealer
        /// Sealed, waiting for the write task (which is queued whenever this is not empty).
        var pending: [String] = []
    }
    private let state: Mutex<State>

    init(connection: WebSocketClient, key: PeerLinkKey) {
        self.connection = connection
        self.state = Mutex(State(sealer: PeerFrameSealer(key: key)))
    }

    func send(_ message: String) {
        let startsBurst = state.withLock { state -> Bool in
            state.pending.append(state.sealer.seal(message))
            return state.pending.count == 1
        }
        // Tasks on one loop run in the order queued: a burst's task always runs after the one
        // before it took its frames, so counter order holds on the wire.
        if startsBurst { connection.eventLoop.execute { [self] in writePending() } }
    }

    private func writePending() {
        let frames = state.withLock { state -> [String] in
            defer { state.pending = [] }
            return state.pending
        }
        for frame in frames { connection.send(ByteBuffer(string: frame), flush: false) }
        connection.flush()
    }
}
