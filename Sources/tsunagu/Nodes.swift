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

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            // Ages and liveness by the database's clock, the one that stamped the heartbeats.
            let (now, nodes) = try await store.nodesWithDatabaseTime()
            print(Self.row(["ID", "ADDRESS", "STATE", "AGE", "HEARTBEAT", "CONNECTIONS", "SUBSCRIPTIONS"]))
            for node in nodes where all || node.state != .gone {
                let alive = node.isAlive(nowMillis: now, leaseMillis: HubStore.defaultLeaseMillis)
                let state = node.state == .gone ? "gone" : alive ? node.state.rawValue : "dead"
                print(Self.row([node.id.rawValue, "\(node.host):\(node.port)", state,
                                Self.age(now - node.startedAtMillis), Self.age(now - node.heartbeatAtMillis) + " ago",
                                String(node.connections), String(node.subscriptions)]))
            }
        }

        static func row(_ cells: [String]) -> String {
            let widths = [14, 22, 9, 8, 12, 12, 13]
            return zip(cells, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }
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

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            let id = nodeId ?? NodeID.random().rawValue
            let logPath = log ?? (storeOptions.dataDirectory + "/logs/node-\(address.port).log")
            let process = try NodeLauncher.start(storeOptions: storeOptions, host: address.host, port: address.port,
                                                 nodeID: id, logPath: logPath)
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

        func run() async throws {
            let store = try storeOptions.openStore(createKey: false)
            guard try await store.requestDrain(id: NodeID(id)) else { throw CLIError("no node \(id) in the registry") }
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
            guard try await store.removeNode(id: NodeID(id)) else { throw CLIError("no node \(id) in the registry") }
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
        try FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
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
