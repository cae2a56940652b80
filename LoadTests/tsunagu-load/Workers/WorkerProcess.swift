import Foundation
import Synchronization
import TsunaguClient

/// One worker child process seen from the parent: this binary again with `--worker`, its config on
/// the first line of stdin, then commands; it answers with one JSON object per line on stdout.
/// A worker that exits early (crash, kill) fails every pending and later request with a clear
/// error instead of leaving the parent waiting.
final class WorkerProcess: Sendable {
    let number: Int
    private let process: Process
    private let input: FileHandle
    private let state = Mutex(State())

    private struct State {
        var latest: StatsSnapshot?
        var replies: [JSONValue] = []
        var waiter: CheckedContinuation<JSONValue, any Error>?
        var exited: String?
    }

    /// Starts worker `number` with `config` (which carries the session token: stdin, not argv).
    init(number: Int, config: JSONValue) throws {
        self.number = number
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executablePath)
        process.arguments = ["--worker"]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.standardError
        try process.run()
        self.process = process
        self.input = stdin.fileHandleForWriting
        Thread.detachNewThread { [self] in readReplies(stdout.fileHandleForReading) }
        try send(config)
    }

    /// This very binary: /proc/self/exe on Linux, argv[0] elsewhere.
    private static var executablePath: String {
        FileManager.default.fileExists(atPath: "/proc/self/exe")
            ? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            : CommandLine.arguments[0]
    }

    /// The last progress record (every second) or final report.
    var latest: StatsSnapshot? { state.withLock { $0.latest } }

    /// Why the worker is gone, when it is.
    var exitReason: String? { state.withLock { $0.exited } }

    func send(_ message: JSONValue) throws {
        try input.write(contentsOf: Data((message.serialized() + "\n").utf8))
    }

    /// The next reply that is not a progress record, within `timeout`.
    func nextReply(timeout: Duration) async throws -> JSONValue {
        let timer = Task { [self] in
            try await Task.sleep(for: timeout)
            fail(LoadError("worker \(number): no answer within \(timeout)"))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let ready: Result<JSONValue, any Error>? = state.withLock { s in
                if !s.replies.isEmpty { return .success(s.replies.removeFirst()) }
                if let exited = s.exited { return .failure(LoadError("worker \(number) \(exited)")) }
                s.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Sends `command` and waits for the reply of type `type`.
    func request(_ command: JSONValue, expecting type: String, timeout: Duration) async throws -> JSONValue {
        try send(command)
        while true {
            let reply = try await nextReply(timeout: timeout)
            if reply["type"]?.stringValue == type { return reply }
            if reply["type"]?.stringValue == "error" {
                throw LoadError("worker \(number): \(reply["message"]?.stringValue ?? "error")")
            }
        }
    }

    private func fail(_ error: any Error) {
        let waiter = state.withLock { s in
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(throwing: error)
    }

    func terminate() {
        if process.isRunning { process.terminate() }
    }

    /// Runs on its own thread until the worker closes stdout.
    private func readReplies(_ handle: FileHandle) {
        var buffer = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<newline]
                buffer = Data(buffer[buffer.index(after: newline)...])
                guard let reply = try? JSONValue.parse(line) else { continue }
                deliver(reply)
            }
        }
        process.waitUntilExit()
        let reason = process.terminationReason == .uncaughtSignal
            ? "was killed by signal \(process.terminationStatus)"
            : "exited with status \(process.terminationStatus)"
        let waiter = state.withLock { s in
            s.exited = reason
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(throwing: LoadError("worker \(number) \(reason)"))
    }

    private func deliver(_ reply: JSONValue) {
        let isProgress = reply["type"]?.stringValue == "progress" || reply["type"]?.stringValue == "final"
        let stats = isProgress ? reply["stats"].flatMap { try? StatsSnapshot(json: $0) } : nil
        let waiter: CheckedContinuation<JSONValue, any Error>? = state.withLock { s in
            if let stats { s.latest = stats }
            guard reply["type"]?.stringValue != "progress" else { return nil }
            if let waiter = s.waiter {
                s.waiter = nil
                return waiter
            }
            s.replies.append(reply)
            return nil
        }
        waiter?.resume(returning: reply)
    }
}
