import Foundation
import NIOPosix
import Synchronization
import Testing
import TsunaguClient

/// `tsunagu up`, the embedded default of PROTOCOL.md §6, as an operator runs it: in a fresh
/// directory, from the real executable.
@Suite struct UpCommandTests {
    @Test func upServesThroughItsBalancerKeepsADailyBackupAndStopsOnSIGTERM() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-up-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = Int.random(in: 30_000...50_000)
        let process = Process()
        process.executableURL = TsunaguExecutable.url
        process.arguments = ["up", "--port", String(port), "--nodes", "2"]
        process.currentDirectoryURL = directory
        let output = OutputCollector()
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { handle in output.append(handle.availableData) }
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        #expect(try await output.waitFor("Tsunagu is up at http://127.0.0.1:\(port)", seconds: 30), "\(output.text)")
        #expect(output.text.contains("login:    admin@demo.tsunagu.test"))
        #expect(output.text.contains("created a new master key"))

        // Through the balancer to a node.
        let http = TsunaguHTTPClient(host: "127.0.0.1", port: port, group: MultiThreadedEventLoopGroup.singleton)
        #expect(try await http.send("GET", "/readyz").status == 200)

        // Today's encrypted backup, without anyone running `tsunagu backup`.
        #expect(try await output.waitFor("daily backup written", seconds: 10), "\(output.text)")
        let backups = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tsunagu-data/backups")
        #expect(backups.count == 1 && backups[0].hasSuffix(".backup"), "\(backups)")

        process.terminate()
        #expect(try await output.waitFor("stopped", seconds: 30), "\(output.text)")
        try await offPool { process.waitUntilExit() }
        #expect(process.terminationStatus == 0)
    }
}

/// Everything a child process writes, as it arrives.
final class OutputCollector: Sendable {
    private let data = Mutex(Data())

    func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }

    var text: String { String(decoding: data.withLock { $0 }, as: UTF8.self) }

    func waitFor(_ fragment: String, seconds: Double) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if text.contains(fragment) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return text.contains(fragment)
    }
}
