import Dispatch
import Foundation
import Logging

/// Waits for SIGINT or SIGTERM, so that Ctrl-C stops the hub cleanly.
enum SignalWaiter {
    static func untilTerminated() async throws {
        await untilTerminated(or: nil)
    }

    /// Returns on SIGINT/SIGTERM, or when `other` returns, whichever comes first.
    static func untilTerminated(or other: (@Sendable () async -> Void)?) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            if let other {
                Task {
                    await other()
                    if once.claim() { continuation.resume() }
                }
            }
            var sources: [DispatchSourceSignal] = []
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .main)
                source.setEventHandler {
                    if once.claim() { continuation.resume() }
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Keeps signal sources alive for the process's life.
enum SignalSources {
    nonisolated(unsafe) private static var kept: [DispatchSourceSignal] = []
    static func keep(_ sources: [DispatchSourceSignal]) { kept.append(contentsOf: sources) }
}

final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false
    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}

enum LoggingSetup {
    /// Logs go to standard error with timestamps in the deployment's zone (JST by default): the
    /// stream handler formats local time, so the process's zone is set to it.
    static func bootstrap(timeZone: String = "Asia/Tokyo") {
        setenv("TZ", timeZone, 1)
        tzset()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["TSUNAGU_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
            return handler
        }
    }
}
