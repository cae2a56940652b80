import ArgumentParser
import Foundation
import Logging
import NIOCore
import TsunaguBalancer
import TsunaguCore
import TsunaguStore

/// `tsunagu balance`: the round-robin balancer in front of the nodes, following the registry.
struct Balance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the round-robin TCP balancer in front of the live nodes of the registry.")

    enum ExternalConfig: String, ExpressibleByArgument, CaseIterable { case haproxy, nginx }

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host:port")) var listen: ListenAddress
    @Option(help: "Print a configuration for HAProxy or nginx (stream) that balances the current live nodes, and exit.")
    var emitConfig: ExternalConfig?
    @Option(help: ArgumentHelp("Event-loop threads (default: the number of cores). Fewer when many balancer processes share the cores.", valueName: "n"))
    var eventLoops = System.coreCount

    @Option(help: ArgumentHelp("Comma-separated local IP addresses for connections to the nodes, used in turn (more ephemeral ports per node), e.g. 127.0.0.1,127.0.0.6.", valueName: "addresses"))
    var sourceAddresses: String?

    @Option(help: "Time zone of the log timestamps (IANA name), as the nodes'.") var timeZone = "Asia/Tokyo"
    @OptionGroup var logOptions: LogOptions
    @Option(help: ArgumentHelp("Address of the admin listener: /metrics, /healthz, /readyz (default: loopback, a free port; logged at start).",
                               valueName: "host:port"))
    var adminListen: ListenAddress?
    @Option(help: ArgumentHelp("Client connections from one address at most; the excess is closed at accept. Default: an eighth of the open-file limit (each spliced connection holds two descriptors), less headroom.", valueName: "n"))
    var maxConnectionsPerSource: Int?
    @Option(help: ArgumentHelp("Client connections waiting for a backend at most; more arrivals are closed at once.", valueName: "n"))
    var maxWaiting = 4096

    var sourceAddressList: [String] {
        (sourceAddresses ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func validate() throws {
        guard NodeOptions.isKnownZone(timeZone) else { throw ValidationError("--time-zone: unknown zone '\(timeZone)' (an IANA name such as Asia/Tokyo or UTC)") }
        if let maxConnectionsPerSource, !(1...10_000_000).contains(maxConnectionsPerSource) {
            throw ValidationError("--max-connections-per-source: from 1 to 10000000")
        }
        guard (1...1_000_000).contains(maxWaiting) else { throw ValidationError("--max-waiting: from 1 to 1000000") }
        guard (1...256).contains(eventLoops) else { throw ValidationError("--event-loops: from 1 to 256") }
        if sourceAddresses != nil {
            guard !sourceAddressList.isEmpty else { throw ValidationError("--source-addresses: name at least one address") }
            for address in sourceAddressList where (try? SocketAddress(ipAddress: address, port: 0)) == nil {
                throw ValidationError("--source-addresses: '\(address)' is not an IP address")
            }
        }
    }

    func run() async throws {
        let store = try storeOptions.openStore(createKey: false)
        let directory = RegistryDirectory(store: store)
        if let emitConfig {
            let backends = try await directory.backends()
            let address = "\(listen.host):\(listen.port)"
            print(emitConfig == .haproxy ? ExternalBalancerConfig.haproxy(listen: address, backends: backends)
                                         : ExternalBalancerConfig.nginx(listen: address, backends: backends))
            return
        }
        LoggingSetup.bootstrap(timeZone: timeZone, options: logOptions)
        var configuration = BalancerConfiguration(host: listen.host, port: listen.port)
        configuration.eventLoopThreads = eventLoops
        configuration.sourceAddresses = sourceAddressList
        let fileLimit = ProcessFileLimit.raiseToHardLimit()
        configuration.maxConnectionsPerSource = maxConnectionsPerSource
            ?? max(1, ConnectionGate.defaultMaxConnections(fileLimit: fileLimit) / 8)
        configuration.maxWaiting = maxWaiting
        if let adminListen {
            configuration.adminHost = adminListen.host
            configuration.adminPort = adminListen.port
        }
        let balancer = BalancerServer(configuration: configuration, directory: directory)
        let port: Int
        do {
            port = try await balancer.start()
        } catch {
            throw CLIError("cannot listen on \(listen.host):\(listen.port): \(error)")
        }
        print("tsunagu balancer listening on \(listen.host):\(port)")
        print("tsunagu balancer admin listener (/metrics, /healthz, /readyz) on \(configuration.adminHost):\(balancer.adminPort ?? configuration.adminPort)")
        fflush(nil)
        try await ServiceRunner.run([UntilShutdown()], label: "tsunagu.balancer")
        try await balancer.shutdown()
    }
}

/// The balancer's view of the membership registry: active nodes with a fresh heartbeat.
struct RegistryDirectory: BackendDirectory {
    let store: HubStore

    func backends() async throws -> [Backend] {
        try await store.liveNodes().map { Backend(id: $0.id.rawValue, host: $0.host, port: $0.port) }
    }
}
