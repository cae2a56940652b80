import ArgumentParser
import Foundation
import ServiceLifecycle
import TsunaguBalancer
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// `tsunagu up`: the embedded default — a balancer on P and N node processes on one SQLite store
/// under ./tsunagu-data. Ctrl-C drains the nodes and stops everything.
struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the hub on this machine: a balancer and N nodes over a store under ./tsunagu-data.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Port of the balancer, where clients connect.") var port = 8080
    @Option(help: "Number of node processes.") var nodes = 3
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @OptionGroup var nodeOptions: NodeOptions
    @Option(help: ArgumentHelp("Directory of the daily encrypted backups (default: backups/ beside the store).", valueName: "dir"))
    var backupDir: String?
    @Flag(help: "Take no daily backup (see `tsunagu backup`).") var noBackups = false

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port: from 1 to 65535") }
        guard (1...32).contains(nodes) else { throw ValidationError("--nodes: from 1 to 32") }
        guard port + nodes <= 65535 else { throw ValidationError("--port: no room for \(nodes) node ports above it") }
        try nodeOptions.checkTransport(host: host, flag: "--host")
    }

    func run() async throws {
        LoggingSetup.bootstrap(timeZone: nodeOptions.timeZone)
        let (store, key) = try storeOptions.openStoreAndKey(createKey: true)
        if try store.organizationCount() == 0 { try createDemoOrganization(store) }
        let logs = storeOptions.dataDirectory + "/logs"
        var children: [Process] = []
        for index in 1...nodes {
            let nodePort = port + index
            children.append(try NodeLauncher.start(storeOptions: storeOptions, host: host, port: nodePort,
                                                   nodeID: "n_\(nodePort)", logPath: "\(logs)/node-\(nodePort).log",
                                                   extraArguments: nodeOptions.arguments))
        }
        let balancer = BalancerServer(configuration: BalancerConfiguration(host: host, port: port),
                                      directory: RegistryDirectory(store: store))
        do {
            try await balancer.start()
        } catch {
            for child in children { child.terminate() }
            throw CLIError("cannot listen on \(host):\(port): \(error)")
        }
        let live = try await waitForNodes(store, count: nodes, children: children, logs: logs)
        // "up" means a client can connect now: the balancer has probed the nodes ready (its
        // directory poll and first probe take up to a second after they register).
        for _ in 0..<100 where balancer.readyBackends.count < live {
            try await Task.sleep(for: .milliseconds(50))
        }
        let scheme = nodeOptions.tlsCert == nil ? "http" : "https"
        print("Tsunagu is up at \(scheme)://\(host):\(port)  (WebSocket: /v1/ws) — \(live) node(s), logs in \(logs); Ctrl-C stops it")
        fflush(nil)
        var services: [any Service] = [UntilShutdown()]
        if !noBackups {
            let directory = backupDir ?? (storeOptions.dataDirectory as NSString)
                .appendingPathComponent("backups")
            services.append(DailyBackups(store: store, key: key, directory: directory))
        }
        try await ServiceRunner.run(services, label: "tsunagu.up")
        print("stopping: draining \(children.count) node(s)…")
        fflush(nil)
        for child in children where child.isRunning { child.terminate() }  // SIGTERM: each node drains
        for child in children { await Self.waitForExit(child, seconds: 15) }
        try await balancer.shutdown()
        print("stopped")
    }

    private func waitForNodes(_ store: HubStore, count: Int, children: [Process], logs: String) async throws -> Int {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let live = try await store.liveNodes().filter { node in (port + 1...port + count).contains(node.port) }
            if live.count == count { return count }
            if children.allSatisfy({ !$0.isRunning }) { throw CLIError("the nodes exited at start; see \(logs)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await store.liveNodes().count
    }

    private static func waitForExit(_ process: Process, seconds: Int) async {
        for _ in 0..<(seconds * 10) where process.isRunning {
            try? await Task.sleep(for: .milliseconds(100))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
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
