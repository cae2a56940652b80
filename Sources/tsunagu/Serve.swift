import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TsunaguStore
import TsunaguCore
import TsunaguNode

/// `tsunagu serve`: one stateless node.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one realtime node.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host:port")) var listen: ListenAddress
    @Option(help: "This node's id in the membership registry (default: the one --peer-tls-cert names, else random).")
    var nodeId: String?
    @Option(help: ArgumentHelp("Address of the admin listener: /metrics, /healthz, /readyz (default: loopback, a free port; logged at start).",
                               valueName: "host:port"))
    var adminListen: ListenAddress?
    /// Fault injection for process-level tests of the durable paths (revocation, repair sweep):
    /// the links stand but carry nothing. Hidden from help; never for production.
    @Flag(help: ArgumentHelp("Tests only: drop every outbound peer message.", visibility: .private))
    var testDropPeerMessages = false

    func validate() throws {
        if let nodeId, nodeId.isEmpty || nodeId.count > 64 || nodeId.contains(where: { $0.isWhitespace }) {
            throw ValidationError("--node-id: 1 to 64 characters without spaces")
        }
        try nodeOptions.checkTransport(host: listen.host, flag: "--listen")
        try nodeOptions.peerTLS.checkTransport(host: listen.host, flag: "--listen")
        if nodeId == nil && nodeOptions.peerTLS.isPerNode {
            throw ValidationError("--peer-tls-cert: \(PeerTLSOptions.placeholder) in the path needs --node-id")
        }
    }
    @OptionGroup var nodeOptions: NodeOptions
    @OptionGroup var logOptions: LogOptions
    @OptionGroup var operations: OperationsOptions

    func run() async throws {
        LoggingSetup.bootstrap(timeZone: nodeOptions.timeZone, options: logOptions)
        let store = try storeOptions.openStore(createKey: false)
        let certified: String?
        do { certified = try nodeOptions.peerTLS.certifiedNodeID() } catch let error as CLIError { throw error } catch {
            throw CLIError("cannot load the peer TLS certificate (--peer-tls-cert): \(error)")
        }
        var configuration = NodeConfiguration(nodeID: (nodeId ?? certified).map(NodeID.init) ?? .random(),
                                              host: listen.host, port: listen.port)
        if let adminListen {
            configuration.adminHost = adminListen.host
            configuration.adminPort = adminListen.port
        }
        try nodeOptions.apply(to: &configuration, dataDirectory: storeOptions.dataDirectory)
        operations.apply(to: &configuration)
        // Peer links are authenticated with a secret stored wrapped by the master key (only holders
        // of a master key that opens this store have it, and it survives a master-key rotation),
        // and with peer TLS also by a node certificate from the cluster CA.
        configuration.peerKey = store.peerLinkKey
        if testDropPeerMessages { configuration.peerDropRate = 1 }
        do {
            configuration.peerTLS = try nodeOptions.peerTLS.load(node: configuration.nodeID)
        } catch let error as CLIError { throw error } catch {
            throw CLIError("cannot load the peer TLS certificate, key or cluster CA: \(error)")
        }
        let node = NodeServer(configuration: configuration, store: store)
        let port: Int
        do {
            port = try await node.start()
        } catch {
            throw CLIError("cannot listen on \(listen.host):\(listen.port): \(error)")
        }
        print("tsunagu node \(configuration.nodeID) listening on \(listen.host):\(port)")
        fflush(nil)  // stdout is block-buffered into a pipe; scripts wait for this line
        // SIGINT/SIGTERM or `tsunagu nodes drain`: leave with zero loss, then exit.
        // Listed first so that it stops last: its final anchor counts what the node wrote.
        var services: [any Service] = []
        if let directory = nodeOptions.auditAnchorDir {
            services.append(AuditAnchoring(store: store, key: store.auditAnchorKey,
                                           directory: AuditAnchorDirectory(path: directory)))
        }
        try await ServiceRunner.run(services + [node], label: "tsunagu.node")
    }
}
