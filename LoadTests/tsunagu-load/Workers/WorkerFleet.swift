import Synchronization
import TsunaguClient

/// Subscribers spread over `--processes` worker processes (one process may hold only so many open
/// files). Publishers stay in the parent. A worker that dies is reported, with its last progress
/// counts, and the run fails; the parent never waits on it forever.
final class WorkerFleet: SubscriberFleet {
    private let workers: [WorkerProcess]
    /// Worker number → why it is gone.
    private let dead = Mutex<[Int: String]>([:])

    /// Starts the workers, each with its share of the subscribers.
    init(config: WorkerConfig, processes: Int) throws {
        var workers: [WorkerProcess] = []
        for number in 0..<processes {
            var mine = config
            mine.share = .of(total: config.share.count, ramp: config.share.ramp, worker: number, workers: processes)
            do {
                workers.append(try WorkerProcess(number: number, config: mine.json))
            } catch {
                for w in workers { w.terminate() }
                throw LoadError("cannot start worker \(number): \(error)")
            }
        }
        self.workers = workers
    }

    /// Every live worker's answer to `command`; a worker that fails to answer is marked dead.
    private func ask(_ command: JSONValue, expecting type: String, timeout: Duration) async -> [(Int, JSONValue)] {
        await withTaskGroup(of: (Int, JSONValue?).self) { group in
            for worker in workers where !isDead(worker.number) {
                group.addTask {
                    do {
                        return (worker.number, try await worker.request(command, expecting: type, timeout: timeout))
                    } catch {
                        self.markDead(worker, "\(error)")
                        return (worker.number, nil)
                    }
                }
            }
            var replies: [(Int, JSONValue)] = []
            for await (number, reply) in group { if let reply { replies.append((number, reply)) } }
            return replies
        }
    }

    private func isDead(_ number: Int) -> Bool {
        dead.withLock { $0[number] != nil }
    }

    private func markDead(_ worker: WorkerProcess, _ reason: String) {
        dead.withLock { reasons in
            if reasons[worker.number] == nil {
                reasons[worker.number] = reason.hasPrefix("worker \(worker.number)") ? reason : "worker \(worker.number): \(reason)"
            }
        }
        worker.terminate()
    }

    func connect() async throws -> Int {
        // Connecting 100,000 subscribers at a slow ramp takes a while: allow a day of it, the ramp sets the pace.
        let replies = await ask(["cmd": "connect"], expecting: "connected", timeout: .seconds(86_400))
        return replies.reduce(0) { $0 + ($1.1["failed"]?.intValue ?? 0) }
    }

    func snapshot(withHistograms: Bool) async throws -> StatsSnapshot {
        var total = StatsSnapshot()
        for worker in workers {
            if let exited = worker.exitReason, !isDead(worker.number) { markDead(worker, "worker \(worker.number) \(exited)") }
            if let latest = worker.latest { total.merge(latest) }
        }
        if !withHistograms {
            total.delivery = makeLatencyHistogram()
            total.connect = makeLatencyHistogram()
            total.reconnect = makeLatencyHistogram()
        }
        return total
    }

    func checkLoss(highestAcked: [String: Int]) async throws -> LossReport {
        var acked = JSONObject()
        for (timeline, seq) in highestAcked { acked[timeline] = .int(seq) }
        let replies = await ask(["cmd": "check", "highest_acked": .object(acked)], expecting: "loss", timeout: .seconds(60))
        return replies.reduce(LossReport()) { $0 + LossReport(json: $1.1["loss"] ?? [:]) }
    }

    func finish() async throws -> StatsSnapshot {
        let replies = await ask(["cmd": "finish"], expecting: "final", timeout: .seconds(60))
        var total = StatsSnapshot()
        for (number, reply) in replies {
            do {
                total.merge(try StatsSnapshot(json: reply["stats"] ?? [:]))
            } catch {
                markDead(workers[number], "\(error)")
            }
        }
        // A dead worker still counts with what it last reported.
        for worker in workers where isDead(worker.number) {
            if let latest = worker.latest { total.merge(latest) }
        }
        return total
    }

    func failures() async -> [String] {
        dead.withLock { $0.sorted { $0.key < $1.key }.map(\.value) }
    }

    /// Per worker: what it last reported (for the JSON report).
    var perWorker: [(number: Int, stats: StatsSnapshot?, failure: String?)] {
        workers.map { w in (w.number, w.latest, dead.withLock { $0[w.number] }) }
    }
}
