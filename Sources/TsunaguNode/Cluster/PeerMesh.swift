import Logging
import NIOCore
import Synchronization
import TsunaguCore
import TsunaguStore
import TsunaguWebSocket

/// This node's outbound peer links: one WebSocket to `/v1/peer` of every other live node, over
/// which it announces what it committed. Links follow the registry (updated every heartbeat);
/// a notification for a peer whose link is down is dropped — that peer's repair sweep reads it
/// from the store within a second.
final class PeerMesh: Sendable {
    private enum Link {
        case connecting
        case connected(WebSocketClient)
    }

    private let nodeID: NodeID
    private let auth: PeerAuth
    private let group: any EventLoopGroup
    private let logger: Logger
    private let links = Mutex<[NodeID: (address: String, link: Link)]>([:])
    /// For fault-injection tests only: the fraction of announcements dropped on purpose.
    private let dropRate: Double

    init(nodeID: NodeID, auth: PeerAuth, group: any EventLoopGroup, logger: Logger, dropRate: Double = 0) {
        self.nodeID = nodeID
        self.auth = auth
        self.group = group
        self.logger = logger
        self.dropRate = dropRate
    }

    /// Connects to live nodes it has no link to and closes links to nodes that left.
    func update(liveNodes: [NodeRecord]) {
        let wanted = Dictionary(liveNodes.filter { $0.id != nodeID }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let (toOpen, toClose) = links.withLock { links -> ([NodeRecord], [WebSocketClient]) in
            var closing: [WebSocketClient] = []
            for (id, entry) in links where wanted[id].map({ "\($0.host):\($0.port)" }) != entry.address {
                if case .connected(let connection) = entry.link { closing.append(connection) }
                links[id] = nil
            }
            let opening = wanted.values.filter { links[$0.id] == nil }
            for node in opening { links[node.id] = ("\(node.host):\(node.port)", .connecting) }
            return (opening, closing)
        }
        for connection in toClose { connection.close() }
        for node in toOpen { open(node) }
    }

    private func open(_ node: NodeRecord) {
        let id = node.id
        let address = "\(node.host):\(node.port)"
        let hello = auth.hello(from: nodeID)
        WebSocketClient.connect(host: node.host, port: node.port, configuration: .init(path: "/v1/peer"), group: group,
                                onText: { _ in },
                                onClose: { [weak self] _, _ in self?.dropLink(id, address: address) })
            .whenComplete { [weak self] result in
                guard let self else { return }
                switch result {
                case .success(let connection):
                    connection.send(hello)
                    let kept = self.links.withLock { links -> Bool in
                        guard links[id]?.address == address else { return false }
                        links[id] = (address, .connected(connection))
                        return true
                    }
                    if !kept { connection.close() }
                case .failure:
                    self.dropLink(id, address: address)
                }
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
        let connections = links.withLock { links in
            links.values.compactMap { entry -> WebSocketClient? in
                if case .connected(let connection) = entry.link { return connection }
                return nil
            }
        }
        for connection in connections { connection.send(text) }
    }

    var connectedPeers: Int {
        links.withLock { $0.values.filter { if case .connected = $0.link { true } else { false } }.count }
    }

    func closeAll() {
        let connections = links.withLock { links -> [WebSocketClient] in
            defer { links = [:] }
            return links.values.compactMap { if case .connected(let c) = $0.link { c } else { nil } }
        }
        for connection in connections { connection.close() }
    }
}
