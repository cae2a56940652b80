import Synchronization
import GRDB

/// Group commit for the store's frequent writes (post, react, call, mark read).
///
/// docs/architecture.md acknowledges an event only once it is durably committed, and the store keeps
/// `synchronous = FULL`, so every COMMIT waits for an fsync of the WAL. One transaction per write
/// would cap a node at one acknowledgement per fsync. The committer instead runs every write that
/// arrived while the previous commit was in progress in ONE IMMEDIATE transaction — classic group
/// commit, no timer: a lone write starts at once, and batches only form under load.
///
/// Each operation runs inside its own SAVEPOINT, so one that throws (forbidden, conflict, not found)
/// rolls back only its own changes and gets its own error while the others commit. Later operations
/// of a batch see the earlier ones' writes, so per-timeline seqs stay dense and a repeated
/// (author, client_msg_id) finds the first post even within one batch. Results are handed back only
/// after COMMIT succeeded; if the transaction fails as a whole, every caller of the batch gets that
/// error, because none of their writes is durable.
///
/// Each process batches its own writes; across processes SQLite's write lock (with the store's busy
/// timeout) serializes the batches. On PostgreSQL each node's batches run on the node's commit lane
/// (one thread, one connection); batches of different nodes run at once, serialized per timeline by
/// the timeline row's lock (docs/storage.md, "What is serialized how"). A batch that PostgreSQL
/// aborts for a deadlock or a serialization failure is run again whole (nothing of it committed).
///
/// On PostgreSQL every statement is a network round trip, so writes that know how to run together
/// (`GroupableWrite`: posts) run as one group of a few statements for the whole batch; the others
/// run one by one as on SQLite, after the groups (nothing a batch holds can depend on another
/// write of the same batch: each caller learns its result only after the commit).
final class GroupCommitter: Sendable {
    /// Where batches run.
    enum Lane: Sendable {
        case sqlite(any DatabaseWriter)
        case postgres(PostgresBackend)
    }

    /// How often a batch aborted by PostgreSQL (deadlock, serialization failure) is tried again.
    static let retries = 5

    /// Bounds how long one transaction holds the write lock (other processes wait for it) and how
    /// much work one failed COMMIT throws away.
    static let defaultMaxBatch = 256

    /// How many transactions ran and how many operations they carried (for tests and operators:
    /// `operations / transactions` is the mean batch size).
    struct Counts: Equatable, Sendable {
        var transactions = 0
        var operations = 0
        /// Groups of writes that gave up and ran one by one (`GroupedWriteFallback`).
        var fallbacks = 0
    }

    private struct Job: Sendable {
        /// The timeline the operation writes, locked for the whole batch (PostgreSQL).
        let timeline: String?
        let operation: @Sendable (Database) throws -> any Sendable
        /// The same write as a value a group can run with others of its kind (PostgreSQL).
        let groupable: (any GroupableWrite)?
        /// Hands the outcome to the caller (`QueuedWrite.complete`), after the commit.
        let complete: @Sendable (Result<any Sendable, any Error>) -> Void
    }

    private struct State: ~Copyable {
        var queue: [Job] = []
        /// True from the moment a drain is scheduled on the writer until it finds the queue empty;
        /// while true, new jobs only queue up and join the next batch.
        var draining = false
        var counts = Counts()
    }

    private let lane: Lane
    private let maxBatch: Int
    private let state = Mutex(State())

    convenience init(writer: any DatabaseWriter, maxBatch: Int = GroupCommitter.defaultMaxBatch) {
        self.init(lane: .sqlite(writer), maxBatch: maxBatch)
    }

    init(lane: Lane, maxBatch: Int = GroupCommitter.defaultMaxBatch) {
        precondition(maxBatch > 0)
        self.lane = lane
        self.maxBatch = maxBatch
    }

    var counts: Counts { state.withLock { $0.counts } }

    /// Jobs waiting for the next batch (not the one being committed).
    var queuedCount: Int { state.withLock { $0.queue.count } }

    /// Runs `operation` in the next group transaction and returns its result once that transaction
    /// has committed. The operation must do all of its reads and writes through the `Database` it is
    /// given; it may run after the caller's task was cancelled (a write, once queued, is not taken
    /// back half-way).
    ///
    /// `timeline`: the timeline the operation appends to. On PostgreSQL a batch locks the rows of
    /// all its timelines at its start, in id order, so that two nodes' batches over the same
    /// timelines never wait on each other in a cycle (no deadlocks between batches).
    ///
    /// `groupable`: the same write as a value that runs together with others of its kind on
    /// PostgreSQL; its `runTogether` must give each the result `operation` would have given.
    func enqueue<T: Sendable>(timeline: String? = nil, groupable: (any GroupableWrite)? = nil,
                              _ operation: @escaping @Sendable (Database) throws -> T) async throws -> T
    {
        try await submit(timeline: timeline, groupable: groupable, operation).value
    }

    /// Queues `operation` like `enqueue`, before returning, and leaves the wait to the caller.
    /// Writes submitted one after another run in that order (in one batch or in consecutive ones).
    func submit<T: Sendable>(timeline: String? = nil, groupable: (any GroupableWrite)? = nil,
                             _ operation: @escaping @Sendable (Database) throws -> T) -> QueuedWrite<T>
    {
        let queued = QueuedWrite<T>()
        // The job boxed the operation's own result, so the cast cannot fail.
        let job = Job(timeline: timeline, operation: { try operation($0) }, groupable: groupable,
                      complete: { queued.complete($0.map { $0 as! T }) })
        let startDrain = state.withLock { state -> Bool in
            state.queue.append(job)
            if state.draining { return false }
            state.draining = true
            return true
        }
        if startDrain { scheduleDrain() }
        return queued
    }

    /// One batch per access to the writer, so that the store's other writes (queued on the same
    /// serial writer) interleave with a long run of batches instead of waiting for it to end.
    private func scheduleDrain() {
        switch lane {
        case .sqlite(let writer):
            writer.asyncWriteWithoutTransaction { [self] db in
                drainOneBatch { body in
                    try db.inTransaction(.immediate) {
                        try body(SQLiteExecutor(db))
                        return .commit
                    }
                }
            }
        case .postgres(let backend):
            backend.commitLane.submit { [self] _ in
                drainOneBatch { body in
                    for attempt in 1... {
                        do {
                            return try backend.laneTransaction { try body($0) }
                        } catch where attempt < Self.retries && StoreError.isRetryable(error) {
                            continue
                        }
                    }
                }
            }
        }
    }

    /// Runs a batch's body in one write transaction of the lane's backend.
    private typealias TransactionRunner = (_ body: (Database) throws -> Void) throws -> Void

    private func drainOneBatch(_ runTransaction: TransactionRunner) {
        let batch = state.withLock { state -> [Job] in
            let count = min(state.queue.count, maxBatch)
            let batch = Array(state.queue.prefix(count))
            state.queue.removeFirst(count)
            state.counts.transactions += 1
            state.counts.operations += count
            return batch
        }
        let outcomes = commit(batch, runTransaction, grouped: true)
        for (job, outcome) in zip(batch, outcomes) {
            job.complete(outcome)
        }
        let more = state.withLock { state -> Bool in
            if state.queue.isEmpty {
                state.draining = false
                return false
            }
            return true
        }
        if more { scheduleDrain() }
    }

    /// Runs the batch in one write transaction (IMMEDIATE on SQLite), each job in its own
    /// savepoint. Returns one outcome per job, in order.
    ///
    /// On PostgreSQL, with `grouped`, writes of a kind run together (`runGroups`). A batch that is
    /// one such group alone (the usual batch of posts) runs without a savepoint, which would only
    /// cost two round trips: if it gives up (`GroupedWriteFallback`), the transaction rolls back
    /// and the batch runs again with every write on its own.
    private func commit(_ batch: [Job], _ runTransaction: TransactionRunner,
                        grouped: Bool) -> [Result<any Sendable, any Error>] {
        var outcomes: [Result<any Sendable, any Error>?] = []
        do {
            try runTransaction { db in
                outcomes = Array(repeating: nil, count: batch.count)
                try db.dialect.lockTimelines(db, Set(batch.compactMap(\.timeline)).sorted())
                if grouped && db.dialect == .postgres { try runGroups(batch, db, into: &outcomes) }
                for (index, job) in batch.enumerated() where outcomes[index] == nil {
                    do {
                        var value: (any Sendable)?
                        try db.inSavepoint {
                            value = try job.operation(db)
                        }
                        outcomes[index] = .success(value!)
                    } catch {
                        // Some SQLite errors (I/O, disk full) roll back the whole transaction, not
                        // just the savepoint: then nothing of the batch can commit. A PostgreSQL
                        // deadlock or lost connection aborts the batch too (and may retry it).
                        guard db.isInsideTransaction, !StoreError.isRetryable(error) else { throw error }
                        outcomes[index] = .failure(error)
                    }
                }
            }
        } catch is GroupedWriteFallback {
            state.withLock { $0.counts.fallbacks += 1 }
            return commit(batch, runTransaction, grouped: false)
        } catch {
            return Array(repeating: .failure(error), count: batch.count)
        }
        return outcomes.map { $0! }
    }

    /// Runs the batch's groupable writes kind by kind, each kind as one group in a savepoint. A
    /// group that gives up (`GroupedWriteFallback`) is rolled back and its writes run one by one.
    /// A group that is the whole batch runs without a savepoint, and its giving up is thrown on
    /// (`commit` then runs the batch again with every write on its own).
    private func runGroups(_ batch: [Job], _ db: Database, into outcomes: inout [Result<any Sendable, any Error>?]) throws {
        var kinds: [ObjectIdentifier: [Int]] = [:]
        var order: [ObjectIdentifier] = []
        for (index, job) in batch.enumerated() {
            guard let write = job.groupable else { continue }
            let kind = ObjectIdentifier(type(of: write))
            if kinds[kind] == nil { order.append(kind) }
            kinds[kind, default: []].append(index)
        }
        if order.count == 1, kinds[order[0]]!.count == batch.count {
            let writes = batch.map { $0.groupable! }
            outcomes = try Self.runTogether(writes[0], writes, db, alone: true).map { $0 }
            return
        }
        for kind in order {
            let indices = kinds[kind]!
            let writes = indices.map { batch[$0].groupable! }
            var results: [Result<any Sendable, any Error>] = []
            do {
                try db.inSavepoint { results = try Self.runTogether(writes[0], writes, db, alone: false) }
            } catch is GroupedWriteFallback {
                state.withLock { $0.counts.fallbacks += 1 }
                continue  // rolled back: these run one by one
            }
            precondition(results.count == indices.count, "a group gives one result per write")
            for (index, result) in zip(indices, results) { outcomes[index] = result }
        }
    }

    /// Opens the existential: every write of `writes` has the type of `first`.
    private static func runTogether<Write: GroupableWrite>(_ first: Write, _ writes: [any GroupableWrite], _ db: Database,
                                                           alone: Bool) throws -> [Result<any Sendable, any Error>] {
        try Write.runTogether(writes.map { $0 as! Write }, in: db, alone: alone)
    }
}

/// A write that a group commit can run together with others of its kind in a few statements for
/// the whole group, instead of a few round trips each (PostgreSQL, where each statement is one).
protocol GroupableWrite: Sendable {
    /// Runs `writes` in the batch's transaction: one result per write, in order, each what the
    /// write's own operation would have given. A failure of one write is its result; a thrown error
    /// ends the group: `GroupedWriteFallback` makes the committer run the writes one by one, any
    /// other error fails the batch. `alone`: these writes are the whole batch (no savepoint around
    /// them, and nothing else appends in the transaction).
    static func runTogether(_ writes: [Self], in db: Database, alone: Bool) throws -> [Result<any Sendable, any Error>]
}

/// Thrown by `runTogether` when something it cannot settle in bulk happened (another node's
/// transaction raced it): the committer rolls the group back and runs its writes one by one.
struct GroupedWriteFallback: Error {}
