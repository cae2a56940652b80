import Foundation

/// One run of the `tsunagu` executable as an operator types it: in a chosen working directory,
/// with a chosen HOME (so `~` never touches the real one), standard output and error apart, and a
/// time limit (a command still running then is killed and reported as such).
struct CommandRun: Sendable {
    var status: Int32
    var signalled: Bool
    var timedOut: Bool
    var stdout: String
    var stderr: String

    /// The non-empty lines of standard error.
    var errorLines: [Substring] { stderr.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty } }

    static func run(_ arguments: [String], in directory: String, environment: [String: String] = [:],
                    stdin: String? = nil, seconds: Double = 20) async throws -> CommandRun {
        try await offPool {
            let process = Process()
            process.executableURL = TsunaguExecutable.url
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TSUNAGU_") }
                .merging(environment) { $1 }
            let input = Pipe(), output = Pipe(), error = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = error
            try process.run()
            if let stdin { input.fileHandleForWriting.write(Data((stdin + "\n").utf8)) }
            try? input.fileHandleForWriting.close()
            let timedOut = TimedOut()
            let watchdog = DispatchWorkItem {
                if process.isRunning { timedOut.set(); kill(process.processIdentifier, SIGKILL) }
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: watchdog)
            let group = DispatchGroup()
            nonisolated(unsafe) var errorData = Data()
            group.enter()
            DispatchQueue.global().async { errorData = error.fileHandleForReading.readDataToEndOfFile(); group.leave() }
            let outputData = output.fileHandleForReading.readDataToEndOfFile()
            group.wait()
            process.waitUntilExit()
            watchdog.cancel()
            return CommandRun(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                              timedOut: timedOut.value, stdout: String(decoding: outputData, as: UTF8.self),
                              stderr: String(decoding: errorData, as: UTF8.self))
        }
    }

    /// A fresh temporary directory with a `home/` inside for HOME.
    static func scratchDirectory(_ label: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path + "/home", withIntermediateDirectories: true)
        return path
    }
}

private final class TimedOut: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.withLock { flag = true } }
    var value: Bool { lock.withLock { flag } }
}
