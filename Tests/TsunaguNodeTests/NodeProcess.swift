import Foundation
import Testing

/// The `tsunagu` executable built beside the test bundle, run as a real process.
enum TsunaguExecutable {
    static var url: URL { sibling("tsunagu") }

    /// An executable product built into the same directory as the test bundle.
    static func sibling(_ name: String) -> URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Runs a command to completion off the cooperative thread pool (a blocked pool thread would
    /// starve the live nodes that other tests run in this process).
    @discardableResult
    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                    executable: String = "tsunagu", separateStandardError: Bool = false) async throws
        -> (status: Int32, output: String)
    {
        try await offPool {
            try runBlocking(arguments, stdin: stdin, environment: environment, executable: executable,
                            separateStandardError: separateStandardError)
        }
    }

    private static func runBlocking(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                    executable: String = "tsunagu", separateStandardError: Bool = false) throws
        -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = sibling(executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = separateStandardError ? FileHandle.nullDevice : output
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data((stdin + "\n").utf8)) }
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// SIGTERM, then waits for the exit on a Dispatch thread (SIGKILL after `seconds`) and returns at
/// once: for a test's cleanup, whose `defer` cannot await. Waiting there blocked one of Swift's
/// cooperative threads (two on this machine) for a whole drain, and stalled every other test.
func terminateInBackground(_ process: Process, seconds: Int = 30) {
    guard process.isRunning else { return }
    process.terminate()
    DispatchQueue.global().async {
        for _ in 0..<(seconds * 10) where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Runs blocking work on a Dispatch thread and awaits it.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// A long-running `tsunagu` process (a node or the balancer) on 127.0.0.1 port 0; the port is read
/// from its first line ("… listening on HOST:PORT").
final class NodeProcess: @unchecked Sendable {
    let process = Process()
    let port: Int

    /// `tsunagu serve` on a store. The tests that use it post as one user faster than the
    /// default post rate allows (`PostRateLimitTests` tests the limit itself).
    static func start(store: String, keyFile: String, nodeID: String, extra: [String] = []) async throws -> NodeProcess {
        try await start(["serve", "--store", store, "--master-key-file", keyFile, "--listen", "127.0.0.1:0",
                         "--node-id", nodeID, "--max-posts-per-user", "0"] + extra)
    }

    /// `executable` is `tsunagu` unless a wrapper runs it (e.g. `cluster/netns.sh exec HOST`,
    /// which execs it, so the process id stays the node's).
    static func start(_ arguments: [String], executable: URL = TsunaguExecutable.url) async throws -> NodeProcess {
        try await offPool { try NodeProcess(arguments, executable: executable) }
    }

    private init(_ arguments: [String], executable: URL) throws {
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        // TSUNAGU_TEST_NODE_LOGS=DIR keeps each process's log (stderr) in DIR, for diagnosis.
        if let logs = ProcessInfo.processInfo.environment["TSUNAGU_TEST_NODE_LOGS"] {
            let path = logs + "/\(arguments.first ?? "tsunagu")-\(UUID().uuidString.prefix(8)).log"
            FileManager.default.createFile(atPath: path, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: path)
        }
        try process.run()
        // A process that never says it listens is killed, so the read below ends instead of hanging.
        let started = process
        let watchdog = DispatchWorkItem { if started.isRunning { started.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 20, execute: watchdog)
        defer { watchdog.cancel() }
        var line = ""
        let handle = output.fileHandleForReading
        while !line.hasSuffix("\n") {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty { throw TestFailure("tsunagu \(arguments.first ?? "") exited before listening") }
            line += String(decoding: byte, as: UTF8.self)
        }
        guard let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            throw TestFailure("unexpected first line from tsunagu \(arguments.first ?? "")")
        }
        self.port = port
    }

    /// SIGTERM, returning at once: cleanup in a `defer` (see `terminateInBackground`).
    func stopInBackground() { terminateInBackground(process) }

    /// SIGTERM: a node drains and exits.
    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// SIGKILL: the node vanishes without a word, as in a crash.
    func kill9() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// A store made the way an operator makes one, in a fresh temporary directory: `admin bootstrap`
/// (organization O, admin a@o.test), then `admin add-user` b@o.test; two audit entries.
struct OperatorStore {
    let directory: String
    var storePath: String { directory + "/data/tsunagu.sqlite" }
    /// `--store` and `--master-key-file`, for every command on this store.
    var common: [String] { ["--store", storePath, "--master-key-file", directory + "/master.key"] }

    static func make(_ label: String) async throws -> OperatorStore {
        let store = OperatorStore(directory: FileManager.default.temporaryDirectory
            .appendingPathComponent("tsunagu-\(label)-\(UUID().uuidString)").path)
        #expect(try await TsunaguExecutable.run(["admin", "bootstrap", "--org", "O", "--email", "a@o.test", "--password-stdin"]
                                                + store.common, stdin: "long enough password").status == 0)
        #expect(try await TsunaguExecutable.run(["admin", "add-user", "--email", "b@o.test", "--name", "B", "--password-stdin"]
                                                + store.common, stdin: "long enough password").status == 0)
        return store
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
