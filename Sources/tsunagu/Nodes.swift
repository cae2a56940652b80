import ArgumentParser
import Foundation
import TsunaguCore
import TsunaguStore

/// `tsunagu nodes list | add HOST:PORT | drain ID | remove ID`: the membership registry, as
/// operators see and change it.
struct Nodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show and change the cluster's membership.",
        subcommands: [List.self, Add.self, Drain.self, Remove.self])
}

extension Nodes {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List nodes with state, age and load.")
        @OptionGroup var storeOptions: StoreOptions
        @Flag(help: "Include nodes that have left.") var all = false
        @Flag(help: "Print JSON: one object per node with id, address, admin address, state and last heartbeat.")
        var json = false
        @Flag(help: "With --json: print Prometheus file_sd targets (the admin listeners of live nodes) instead.")
        var prometheusSd = false
        @Option(help: "Time zone of the heartbeat times in --json.") var timeZone = "Asia/Tokyo"

        func validate() throws {
            if prometheusSd && !json { throw ValidationError("--prometheus-sd: goes with --json") }
        }

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            // Ages and liveness by the database's clock, the one that stamped the heartbeats.
            let (now, nodes) = try await store.nodesWithDatabaseTime()
            if json {
                let listing = NodeListing(nodes: nodes.filter { all || $0.state != .gone },
                                          adminAddresses: try await store.adminAddresses(), nowMillis: now,
                                          time: try OperatorTime.wireTime(timeZone))
                return print(prometheusSd ? listing.prometheusTargets() : listing.json())
            }
            print(Self.row(["ID", "ADDRESS", "STATE", "AGE", "HEARTBEAT", "CONNECTIONS", "SUBSCRIPTIONS"]))
            for node in nodes where all || node.state != .gone {
                let alive = node.isAlive(nowMillis: now, leaseMillis: HubStore.defaultLeaseMillis)
                let state = node.state == .gone ? "gone" : alive ? node.state.rawValue : "dead"
                print(Self.row([node.id.rawValue, "\(node.host):\(node.port)", state,
                                Self.age(now - node.startedAtMillis), Self.age(now - node.heartbeatAtMillis) + " ago",
                                String(node.connections), String(node.subscriptions)]))
            }
        }

        static func row(_ cells: [String], widths: [Int] = [14, 22, 9, 8, 12, 12, 13]) -> String {
            zip(cells, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }
                .joined(separator: " ").trimmingCharacters(in: .whitespaces)
        }

        static func age(_ millis: Int64) -> String {
            let seconds = max(0, millis / 1000)
            if seconds < 120 { return "\(seconds)s" }
            if seconds < 7200 { return "\(seconds / 60)m" }
            return "\(seconds / 3600)h"
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a new node on this machine at HOST:PORT, on the same store; it joins the cluster.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: ArgumentHelp("Where the new node listens.", valueName: "host:port")) var address: ListenAddress
        @Option(help: "Its node id (default: random).") var nodeId: String?
        @Option(help: "Its log file (default: beside the store, logs/node-PORT.log).") var log: String?
        @OptionGroup(title: "Node options (default: the settings `tsunagu up` recorded beside the store)")
        var nodeOptions: NodeOptions

        mutating func validate() throws {
            if let log {
                let path = try PathArgument.resolve(log, flag: "--log")
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    throw ValidationError("--log: \(path) is a directory, not a file")
                }
                self.log = path
            }
            if let nodeId, nodeId.isEmpty || nodeId.count > 64 || nodeId.contains(where: { $0.isWhitespace }) {
                throw ValidationError("--node-id: 1 to 64 characters without spaces")
            }
            // Peer links first: off loopback they need TLS whatever the clients' side does.
            try nodeOptions.peerTLS.checkTransport(host: address.host, flag: "HOST:PORT")
            if nodeOptions.peerTLS.isOn && nodeId == nil {
                throw ValidationError("--node-id: needed with --peer-tls-cert (the certificate names the node id)")
            }
            try nodeOptions.checkTransport(host: address.host, flag: "host:port")
        }

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            try await PortCheck.ensureFree(host: address.host, ports: [address.port], flag: "host:port")
            let id = nodeId ?? NodeID.random().rawValue
            let logPath = log ?? storeOptions.dataDirectory + "/logs/node-\(address.port).log"
            let arguments = try NodeSettings.arguments(for: nodeOptions, dataDirectory: storeOptions.dataDirectory)
            // Recorded before the node starts: no node is started unrecorded.
            try await OperatorAudit.record(store, "nodes.add", target: id, details: "\(address.host):\(address.port)")
            let process = try NodeLauncher.start(storeOptions: storeOptions, host: address.host, port: address.port,
                                                 nodeID: id, logPath: logPath,
                                                 extraArguments: arguments + nodeOptions.peerTLS.arguments(node: id))
            let active = try await Registry.poll(seconds: 15, every: .milliseconds(100)) {
                if try await store.liveNodes().contains(where: { $0.id.rawValue == id }) { return true }
                if !process.isRunning { throw CLIError("the node exited at start; see \(logPath)") }
                return false
            }
            guard active else { throw CLIError("node \(id) did not become active within 15 s; see \(logPath)") }
            print("node \(id) is active at \(address.host):\(address.port) (pid \(process.processIdentifier), log \(logPath))")
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a node's clients to the others with zero loss; the node then leaves.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The node's id.") var id: String
        @Option(help: "Seconds to wait for it to leave.") var wait = 30

        func validate() throws {
            guard (0...3600).contains(wait) else { throw ValidationError("--wait: from 0 to 3600 seconds") }
        }

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            let requested = try await OperatorAudit.recording(store, "nodes.drain", target: id) {
                try await store.requestDrain(id: NodeID(id))
            }
            guard requested else { throw CLIError("no node \(id) in the registry") }
            print("drain requested for \(id)")
            let left = try await Registry.poll(seconds: wait, every: .milliseconds(200)) {
                try await store.nodes().first { $0.id.rawValue == id }.map { $0.state == .gone } ?? true
            }
            guard left else { throw CLIError("node \(id) is still draining after \(wait) s") }
            print("node \(id) has left")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a node's row; a node still running drains and leaves when it notices.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            let removed = try await OperatorAudit.recording(store, "nodes.remove", target: id) {
                try await store.removeNode(id: NodeID(id))
            }
            guard removed else { throw CLIError("no node \(id) in the registry") }
            print("removed \(id)")
        }
    }
}

/// Waiting on the registry.
enum Registry {
    /// Checks `done` every `interval` until it holds (true) or `seconds` pass (false).
    static func poll(seconds: Int, every interval: Duration, _ done: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await done() { return true }
            try await Task.sleep(for: interval)
        }
        return false
    }
}

/// Starts `tsunagu serve` as a child process writing to a log file; it outlives this command.
enum NodeLauncher {
    static func start(storeOptions: StoreOptions, host: String, port: Int, nodeID: String, logPath: String,
                      extraArguments: [String] = []) throws -> Process {
        do {
            try FileManager.default.createDirectory(atPath: PathArgument.directory(of: logPath), withIntermediateDirectories: true)
        } catch {
            throw CLIError("cannot create the log directory for \(logPath): \(oneLine(error))")
        }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw CLIError("cannot write \(logPath)") }
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
            process.executableURL = Bundle.main.executableURL
        }
        // The password file travels by name, never the password (docs/storage.md).
        let passwordFile = storeOptions.storePasswordFile.map { ["--store-password-file", $0] } ?? []
        process.arguments = ["serve", "--store", storeOptions.store, "--master-key-file", storeOptions.keyPath] + passwordFile + [
                             "--listen", "\(host):\(port)", "--node-id", nodeID] + extraArguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }
}
