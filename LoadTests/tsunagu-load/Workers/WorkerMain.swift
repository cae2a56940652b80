import Dispatch
import NIOPosix
import Synchronization
import TsunaguClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The worker side of `--processes`: runs a share of the subscribers and answers the parent's
/// commands (one JSON object per line on stdin) on stdout, with a progress record every second.
/// It exits when the parent says `finish`, or when its stdin closes (the parent is gone).
enum WorkerMain {
    static func run() async -> Int32 {
        guard let line = await readLineOffPool(), let config = try? WorkerConfig(json: JSONValue.parse(line)) else {
            printError("tsunagu-load worker: no valid config on stdin")
            return 1
        }
        raiseFileLimit(needed: config.share.count, log: { printError("tsunagu-load worker: \($0)") })
        // The group lives until the process exits right after `run` returns.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: config.eventLoops)
        let fleet: LocalFleet
        do {
            fleet = LocalFleet(group: group, board: try await StatsBoard(group: group), target: config.target,
                               timelines: config.timelines, sourceAddresses: config.sourceAddresses,
                               share: config.share, log: nil)
        } catch {
            reply(["type": "error", "message": .string("\(error)")])
            return 1
        }
        let progress = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if let stats = try? await fleet.snapshot(withHistograms: true) {
                    reply(["type": "progress", "stats": stats.json])
                }
            }
        }
        defer { progress.cancel() }
        while let line = await readLineOffPool() {
            guard let command = try? JSONValue.parse(line) else { continue }
            do {
                switch command["cmd"]?.stringValue {
                case "connect":
                    let failed = try await fleet.connect()
                    // The counts first, so the parent's "subscribed n/N" line is current.
                    reply(["type": "progress", "stats": try await fleet.snapshot(withHistograms: true).json])
                    reply(["type": "connected", "failed": .int(failed)])
                case "check":
                    var acked: [String: Int] = [:]
                    for (timeline, seq) in command["highest_acked"]?.objectValue ?? [:] { acked[timeline] = seq.intValue ?? 0 }
                    let loss = try await fleet.checkLoss(highestAcked: acked)
                    reply(["type": "loss", "loss": loss.json])
                case "finish":
                    progress.cancel()
                    let final = try await fleet.finish()
                    reply(["type": "final", "stats": final.json])
                    try? await Task.sleep(for: .milliseconds(300))  // let the close handshakes go out
                    return 0
                default:
                    reply(["type": "error", "message": .string("unknown command")])
                }
            } catch {
                reply(["type": "error", "message": .string("\(error)")])
            }
        }
        return 1  // the parent went away
    }

    private static let output = Mutex(())

    /// One line on stdout, written whole even when longer than a pipe's atomic write.
    private static func reply(_ message: JSONValue) {
        output.withLock { _ in
            var text = message.serialized() + "\n"
            text.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let n = write(1, bytes.baseAddress! + offset, bytes.count - offset)
                    if n <= 0 { if errno == EINTR { continue }; return }
                    offset += n
                }
            }
        }
    }

    private static func readLineOffPool() async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: readLine()) }
        }
    }
}
