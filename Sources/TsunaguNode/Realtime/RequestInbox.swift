import TsunaguCore

/// The requests of one connection that wait for its drain task, oldest first. At most one drain
/// task runs per connection, so requests are answered in the order they were sent; the task is
/// started by the request that finds the inbox idle and ends when the inbox is empty.
struct RequestInbox {
    /// An array, emptied (storage freed) whenever the drain task finds nothing left: an idle
    /// connection holds no buffer. At most `limit` long, so removing from the front is cheap.
    private var waiting: [ClientRequest] = []
    /// A drain task is running (it may be between two requests).
    private var draining = false
    /// Requests the drain task took and has not asked past yet (several: a run of posts).
    private var running = 0

    enum Enqueued: Equatable {
        /// A task is already draining; it will reach this request.
        case queued
        /// The inbox was idle: the caller starts the drain task.
        case startDraining
        /// `limit` requests already wait or run: refused (`rate_limited`), not queued.
        case full
    }

    /// No request waits or runs: a new one may be answered at once, in order.
    var isIdle: Bool { !draining }

    /// Requests waiting or running, the one in progress included.
    private var inFlight: Int { waiting.count + running }

    mutating func enqueue(_ request: ClientRequest, limit: Int) -> Enqueued {
        guard inFlight < limit else { return .full }
        waiting.append(request)
        if draining { return .queued }
        draining = true
        return .startDraining
    }

    /// The next request for the drain task, or nil (and the task ends) when none waits.
    ///
    /// The inbox stays `draining` until `finishDraining` runs on the event loop: the task's last
    /// reply travels to the loop as a queued task, and a request answered on the loop (inline)
    /// before that reply is written would overtake it.
    mutating func next() -> ClientRequest? {
        nextRun(limit: 1) { _ in false }.first
    }

    /// The next request and those right behind it that run together with it (`together` holds
    /// for the first and each of them), at most `limit` in all; empty (and the task ends) when
    /// none waits.
    mutating func nextRun(limit: Int, together: (ClientRequest) -> Bool) -> [ClientRequest] {
        guard let first = waiting.first else {
            waiting = []
            running = 0
            return []
        }
        var count = 1
        if together(first) {
            while count < min(limit, waiting.count) && together(waiting[count]) { count += 1 }
        }
        let run = Array(waiting.prefix(count))
        waiting.removeFirst(count)
        running = count
        return run
    }

    /// On the event loop, after the drain task ended: idle again, unless requests arrived
    /// meanwhile (then true: the caller starts a new drain task for them).
    mutating func finishDraining() -> Bool {
        guard waiting.isEmpty else { return true }
        waiting = []
        draining = false
        return false
    }
}
