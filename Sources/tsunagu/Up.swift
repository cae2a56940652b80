import ArgumentParser
import Foundation
import TsunaguCore
import TsunaguCrypto
import TsunaguNode
import TsunaguStore

/// `tsunagu up`: the embedded default. Until the cluster (balancer, registry) lands it runs one
/// node on P; `--nodes` above 1 is refused rather than ignored.
struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the hub on this machine with a store under ./tsunagu-data.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Port to serve on.") var port = 8080
    @Option(help: "Number of nodes (only 1 until the cluster lands).") var nodes = 1
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @OptionGroup var nodeOptions: NodeOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port: from 0 to 65535") }
        guard nodes == 1 else {
            throw ValidationError("--nodes: only 1 node is available until the balancer and registry land")
        }
    }

    func run() async throws {
        LoggingSetup.bootstrap(timeZone: nodeOptions.timeZone)
        let store = try storeOptions.openStore(createKey: true)
        if try store.organizationCount() == 0 { try createDemoOrganization(store) }
        var configuration = NodeConfiguration(host: host, port: port)
        nodeOptions.apply(to: &configuration)
        let node = NodeServer(configuration: configuration, store: store)
        let bound = try await node.start()
        let scheme = nodeOptions.tlsCert == nil ? "http" : "https"
        print("Tsunagu is up at \(scheme)://\(host):\(bound)  (WebSocket: /v1/ws)  — Ctrl-C stops it")
        fflush(nil)  // stdout is block-buffered into a pipe; scripts wait for this line
        try await SignalWaiter.untilTerminated()
        try await node.shutdown()
        print("stopped")
    }

    /// A new store gets a demo organization and an admin whose password is printed once.
    private func createDemoOrganization(_ store: HubStore) throws {
        let organization = try store.createOrganization(name: "Demo Care Team")
        let password = SecureRandom.token().prefix(16)
        let admin = try store.createUser(organization: organization.id, email: "admin@demo.tsunagu.test",
                                         name: "Demo Admin", passwordHash: PasswordHasher().hash(String(password)),
                                         role: .admin)
        print("""
            New store: created the organization "Demo Care Team" and its admin.
              login:    admin@demo.tsunagu.test
              password: \(password)   (shown once; change it)
              user id:  \(admin.id)
            """)
    }
}
