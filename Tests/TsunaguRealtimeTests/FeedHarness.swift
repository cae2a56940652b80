import TsunaguCore
import TsunaguRealtime

/// Runs a feed state machine as the node does, against the in-memory event log: frames are
/// strings ("e5" for event 5, "r:…" for a receipt), and what each subscriber receives is recorded.
/// Reads are queued, not answered at once, so a test decides when the store answers (a
/// subscriber can join while a repair is in flight).
final class FeedHarness {
    typealias Machine = FeedStateMachine<String, String>

    var machine: Machine
    let log = InMemoryEventLog()
    let timeline = TimelineID.random()
    private let author = Person(id: .random(), name: "Sato")
    /// Every frame each subscriber received, in order.
    private(set) var received: [String: [String]] = [:]
    private(set) var live: Set<String> = []
    private(set) var pendingReads: [(after: Int64, through: Int64, limit: Int)] = []
    private(set) var holdTimerArmed = false
    private(set) var readCount = 0

    init(pageSize: Int = 500) { machine = Machine(pageSize: pageSize) }

    /// Commits an event to the log without telling the feed (a commit through another node).
    @discardableResult
    func commitElsewhere(_ body: String = "x") -> Int64 {
        log.append(timeline, author: author, payload: .message(body: body, clientMsgID: "m")).seq
    }

    /// Commits an event to the log; the caller hands it to the feed when it wants (`publish`).
    func commitHere() -> Int64 { commitElsewhere() }

    func publish(_ seq: Int64) { run(machine.committed(seq: seq, frame: "e\(seq)")) }
    func heard(_ seq: Int64) { run(machine.heard(seq: seq)) }
    func noticed(_ seq: Int64) { run(machine.noticed(seq: seq)) }
    func expireHold() {
        holdTimerArmed = false
        run(machine.holdExpired())
    }

    func subscribe(_ subscriber: String, since: Int64?) -> SubscribeCursor {
        join(subscriber)
        return start(subscriber, since: since)
    }

    /// Registers the subscriber, which then waits for its head (`start`).
    func join(_ subscriber: String) { machine.join(subscriber) }

    /// The subscriber read its head and its reply went out.
    @discardableResult
    func start(_ subscriber: String, since: Int64?) -> SubscribeCursor {
        let head = log.head(timeline)
        let cursor = SubscribeCursor(since: since, head: head)
        run(machine.start(subscriber, after: cursor.after, head: head))
        return cursor
    }

    func unsubscribe(_ subscriber: String) {
        machine.remove(subscriber)
        live.remove(subscriber)
    }

    func receipt(_ text: String) { run(machine.receipt("r:" + text)) }

    /// Answers the oldest queued read from the log (or fails it).
    func answerRead(failing: Bool = false) async throws {
        let read = pendingReads.removeFirst()
        if failing {
            for subscriber in machine.readFailed() { unsubscribe(subscriber) }
            return
        }
        readCount += 1
        let events = try await log.events(timeline: timeline, after: read.after, through: read.through, limit: read.limit)
        run(machine.readCompleted(after: read.after, through: read.through, events: events.map { ($0.seq, "e\($0.seq)") }))
    }

    /// Answers reads until none is queued.
    func settle() async throws {
        while !pendingReads.isEmpty { try await answerRead() }
    }

    func events(of subscriber: String) -> [Int64] {
        (received[subscriber] ?? []).compactMap { $0.hasPrefix("e") ? Int64($0.dropFirst()) : nil }
    }

    private func run(_ actions: [Machine.Action]) {
        for action in actions {
            switch action {
            case .release(_, let frame):
                for subscriber in live { received[subscriber, default: []].append(frame) }
            case .deliver(let frames, let subscriber):
                received[subscriber, default: []].append(contentsOf: frames)
            case .goLive(let subscriber):
                live.insert(subscriber)
            case .broadcast(let frame):
                for subscriber in live { received[subscriber, default: []].append(frame) }
            case .read(let after, let through, let limit):
                pendingReads.append((after, through, limit))
            case .armHoldTimer:
                holdTimerArmed = true
            }
        }
    }
}
