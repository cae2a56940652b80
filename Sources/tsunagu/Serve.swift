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
    @OptionGroup var nodeOptions: NodeOptions

    func run() async throws {
        LoggingSetup.bootstrap(timeZone: nodeOptions.timeZone)
        let store = try storeOptions.openStore(createKey: false)
        var configuration = NodeConfiguration(nodeID: nodeId.map(NodeID.init) ?? .random(),
                                              host: listen.host, port: listen.port)
        nodeOptions.apply(to: &configuration)
        let node = NodeServer(configuration: configuration, store: store)
        let port = try await node.start()
        print("tsunagu node \(configuration.nodeID) listening on \(listen.host):\(port)")
        fflush(nil)  // stdout is block-buffered into a pipe; scripts wait for this line
        try await SignalWaiter.untilTerminated()
        try await node.shutdown()
    }
}
