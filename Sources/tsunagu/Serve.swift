import ArgumentParser
import Foundation
import Logging
import TsunaguCore
import TsunaguNode

/// `tsunagu serve`: one stateless node.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one realtime node.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host:port")) var listen: ListenAddress
    @Option(help: "This node's id in the membership registry (default: random).") var nodeId: String?
    @Option(help: ArgumentHelp("Address of the admin listener: /metrics, /healthz, /readyz (default: loopback, a free port; logged at start).",
                               valueName: "host:port"))
    var adminListen: ListenAddress?

    func validate() throws {
        if let nodeId, nodeId.isEmpty || nodeId.count > 64 || nodeId.contains(where: { $0.isWhitespace }) {
            throw ValidationError("--node-id: 1 to 64 characters without spaces")
        }
        try nodeOptions.checkTransport(host: listen.host, flag: "--listen")
    }
    @OptionGroup var nodeOptions: NodeOptions

    func run() async throws {
        LoggingSetup.bootstrap(timeZone: nodeOptions.timeZone)
        let (store, key) = try storeOptions.openStoreAndKey(createKey: false)
        var configuration = NodeConfiguration(nodeID: nodeId.map(NodeID.init) ?? .random(),
                                              host: listen.host, port: listen.port)
        if let adminListen {
            configuration.adminHost = adminListen.host
            configuration.adminPort = adminListen.port
        }
        try nodeOptions.apply(to: &configuration, dataDirectory: storeOptions.dataDirectory)
        // Peer links are authenticated with a key only holders of the master key can derive.
        configuration.peerKey = key.derivedKey(purpose: "peer-link")
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
        try await ServiceRunner.run([node], label: "tsunagu.node")
    }
}
