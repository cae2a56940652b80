import NIOCore

/// Flushes, once per event-loop tick, every connection of one event loop that wrote during the
/// tick. A fan-out writes one shared frame to hundreds of connections of a loop in one task;
/// scheduling one flush task per connection cost a closure allocation and a queue push per
/// delivery, so the connections register here instead and one task flushes them all.
/// Confined to its event loop, except `forLoop`.
final class LoopFlusher {
    private let loop: EventLoop
    private var waiting: [WebSocketHandler] = []
    private var draining: [WebSocketHandler] = []
    private var scheduled = false

    private init(loop: EventLoop) { self.loop = loop }

    private static let flushers = PerLoop { LoopFlusher(loop: $0) }

    /// The flusher of `loop`; any thread (a handler asks once, when it is added).
    static func forLoop(_ loop: EventLoop) -> LoopFlusher { flushers.forLoop(loop) }

    /// Flushes `handler` at the end of this tick (the handler calls this once per tick at most).
    func flushSoon(_ handler: WebSocketHandler) {
        self.loop.assertInEventLoop()
        self.waiting.append(handler)
        guard !self.scheduled else { return }
        self.scheduled = true
        self.loop.assumeIsolatedUnsafeUnchecked().execute { self.flushAll() }
    }

    private func flushAll() {
        self.scheduled = false
        // Swap buffers: a flush may make a handler write again (a close after the last frame),
        // which lands in the next round instead of the array being iterated.
        swap(&self.waiting, &self.draining)
        for handler in self.draining { handler.flushNow() }
        self.draining.removeAll(keepingCapacity: true)
    }
}

extension LoopFlusher: @unchecked Sendable {}
