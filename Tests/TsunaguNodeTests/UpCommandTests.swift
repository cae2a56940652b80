import Foundation
import NIOPosix
import Synchronization
import Testing
import TsunaguClient

/// `tsunagu up`, the embedded default of docs/protocol.md §7, as an operator runs it: in a fresh
/// directory, from the real executable.
@Suite(.processHeavy) struct UpCommandTests {
    @Test func upServesThroughItsBalancerKeepsADailyBackupAndStopsOnSIGTERM() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-up-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Ports below the kernel's ephemeral range (32768 and up here), so no client socket of a
        // test running alongside holds one; another try if the three ports are taken anyway.
        var started: (process: Process, output: OutputCollector, port: Int, directory: URL)?
        for attempt in 0..<3 where started == nil {
            let port = Int.random(in: 20_000...32_000)
            let workingDirectory = directory.appendingPathComponent("attempt-\(attempt)")
            try FileManager.default.createDirectory(at: workingDirectory, withIntermediateDirectories: true)
            let (process, output) = try Self.startUp(in: workingDirectory, port: port)
            if try await output.waitFor("Tsunagu is up at http://127.0.0.1:\(port)", seconds: 30, while: process) {
                started = (process, output, port, workingDirectory)
            } else {
                // Only a port someone else holds may make it give up here.
                #expect(output.text.contains("cannot listen") || output.text.contains("exited at start"), "\(output.text)")
                Self.stop(process)
            }
        }
        let (process, output, port, workingDirectory) = try #require(started)
        // If the test stops early: SIGTERM, so `up` stops its node processes too (SIGKILL would
        // leave them running).
        defer { Self.stop(process) }
        #expect(output.text.contains("login:    admin@demo.tsunagu.test"))
        #expect(output.text.contains("created a new master key"))

        // Through the balancer to a node.
        let http = TsunaguHTTPClient(host: "127.0.0.1", port: port, group: MultiThreadedEventLoopGroup.singleton)
        #expect(try await http.send("GET", "/readyz").status == 200)

        // Today's encrypted backup, without anyone running `tsunagu backup`.
        #expect(try await output.waitFor("daily backup written", seconds: 10), "\(output.text)")
        let backups = try FileManager.default.contentsOfDirectory(atPath: workingDirectory.path + "/tsunagu-data/backups")
        #expect(backups.count == 1 && backups[0].hasSuffix(".backup"), "\(backups)")
        // Its nodes and its backup anchor the audit log (the nodes at start, the backup as it is taken).
        let anchors = try FileManager.default.contentsOfDirectory(atPath: workingDirectory.path + "/anchors")
        #expect(anchors.count >= 2, "\(anchors)")

        process.terminate()
        #expect(try await output.waitFor("stopped", seconds: 30), "\(output.text)")
        try await offPool { process.waitUntilExit() }
        #expect(process.terminationStatus == 0)
        let verified = try await TsunaguExecutable.run(["audit", "verify", "--audit-anchor-dir", workingDirectory.path + "/anchors",
                                                        "--store", workingDirectory.path + "/tsunagu-data/tsunagu.sqlite",
                                                        "--master-key-file", workingDirectory.path + "/tsunagu-data/master.key"])
        #expect(verified.status == 0, "\(verified.output)")
        // The demo admin `up` created is in the log.
        #expect(verified.output.contains("1 entries verified"), "\(verified.output)")
    }

    private static func stop(_ process: Process) {
        terminateInBackground(process)
    }

    private static func startUp(in directory: URL, port: Int) throws -> (process: Process, output: OutputCollector) {
        let process = Process()
        process.executableURL = TsunaguExecutable.url
        process.arguments = ["up", "--port", String(port), "--nodes", "2", "--audit-anchor-dir", directory.path + "/anchors"]
        process.currentDirectoryURL = directory
        let output = OutputCollector()
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { handle in output.append(handle.availableData) }
        try process.run()
        return (process, output)
    }
}

/// Everything a child process writes, as it arrives.
final class OutputCollector: Sendable {
    private let data = Mutex(Data())

    func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }

    var text: String { String(decoding: data.withLock { $0 }, as: UTF8.self) }

    /// Whether `fragment` appears within `seconds` (sooner false if `process` exits without it).
    func waitFor(_ fragment: String, seconds: Double, while process: Process? = nil) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if text.contains(fragment) { return true }
            if let process, !process.isRunning {
                try await Task.sleep(for: .milliseconds(200))  // the last output may still be in the pipe
                return text.contains(fragment)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return text.contains(fragment)
    }
}
