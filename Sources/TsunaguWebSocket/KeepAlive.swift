import NIOCore

/// The keep-alive policy of one connection as a pure state machine (the handler owns the timers).
///
/// A connection silent for `pingInterval` gets a Ping; RFC 6455 §5.5.2: "Upon receipt of a Ping
/// frame, an endpoint MUST send a Pong frame in response". Any inbound frame (normally that Pong)
/// proves the peer alive; a peer that stays silent for `pongTimeout` after the Ping is given up,
/// which is how half-open TCP connections (a phone that lost its network) get reaped.
struct KeepAlive {
    let pingInterval: TimeAmount
    let pongTimeout: TimeAmount
    private(set) var lastInbound: NIODeadline
    /// When the unanswered Ping went out, nil when none is outstanding.
    private(set) var pingSentAt: NIODeadline?

    enum Decision: Equatable {
        /// Check again after this delay.
        case checkAgain(in: TimeAmount)
        /// Send a Ping now, give up if nothing arrives within `pongTimeout`, check again after the delay.
        case ping(checkAgainIn: TimeAmount)
        /// The Ping went unanswered for `pongTimeout`: drop the connection.
        case giveUp
    }

    init(pingInterval: TimeAmount, pongTimeout: TimeAmount, now: NIODeadline) {
        self.pingInterval = pingInterval
        self.pongTimeout = pongTimeout
        self.lastInbound = now
    }

    /// Any frame from the peer.
    mutating func frameReceived(at now: NIODeadline) {
        self.lastInbound = now
        self.pingSentAt = nil
    }

    /// Evaluated when the timer fires.
    mutating func tick(at now: NIODeadline) -> Decision {
        if let sent = self.pingSentAt {
            let waited = now - sent
            return waited >= self.pongTimeout ? .giveUp : .checkAgain(in: self.pongTimeout - waited)
        }
        let idle = now - self.lastInbound
        guard idle >= self.pingInterval else {
            return .checkAgain(in: self.pingInterval - idle)
        }
        self.pingSentAt = now
        return .ping(checkAgainIn: Swift.min(self.pingInterval, self.pongTimeout))
    }
}

/// The handler's side of the keep-alive, driven by its loop's `KeepAliveSweeper`.
extension WebSocketHandler {
    /// Called by the sweeper once `keepAliveDue` has passed.
    func keepAliveTick(at now: NIODeadline) {
        guard self.closeState == .open, let context = self.context else { return }
        switch self.keepAlive.tick(at: now) {
        case .checkAgain(let delay):
            self.keepAliveDue = now + delay
        case .ping(let delay):
            let empty = context.channel.allocator.buffer(capacity: 0)
            self.write(OutboundFrame.bytes(opcode: .ping, payload: empty, allocator: context.channel.allocator))
            self.keepAliveDue = now + delay
        case .giveUp:
            // The peer is gone or hopelessly stalled: send a last Close (1001) and drop the
            // connection without waiting for a handshake that will not come.
            self.closeState = .closed
            context.writeAndFlush(
                NIOAny(OutboundFrame.close(code: 1001, reason: "ping timeout", allocator: context.channel.allocator)),
                promise: nil)
            context.close(promise: nil)
        }
    }
}

/// Drives the keep-alive of every WebSocket connection of one event loop from one repeating
/// check, instead of a timer per connection: a scheduled task with its promise and closure cost
/// about 200 bytes on every idle connection. The check runs every `granularity` (a fifth of the
/// shortest ping interval or pong timeout registered, between 20 ms and 1 s), so a Ping leaves at
/// most that late. Confined to its event loop, except `forLoop`.
final class KeepAliveSweeper {
    private let loop: EventLoop
    private var handlers: [WebSocketHandler] = []
    private var granularity: TimeAmount = .seconds(1)
    private var scheduled = false

    private init(loop: EventLoop) { self.loop = loop }

    private static let sweepers = PerLoop { KeepAliveSweeper(loop: $0) }

    static func forLoop(_ loop: EventLoop) -> KeepAliveSweeper { sweepers.forLoop(loop) }

    func add(_ handler: WebSocketHandler) {
        self.loop.assertInEventLoop()
        let limits = handler.limits
        let wanted = Swift.min(limits.pingInterval, limits.pongTimeout).nanoseconds / 5
        self.granularity = .nanoseconds(Swift.max(20_000_000, Swift.min(self.granularity.nanoseconds, wanted)))
        handler.sweepIndex = self.handlers.count
        self.handlers.append(handler)
        if !self.scheduled {
            self.scheduled = true
            self.scheduleSweep()
        }
    }

    /// O(1): the last handler takes the removed one's slot.
    func remove(_ handler: WebSocketHandler) {
        self.loop.assertInEventLoop()
        let index = handler.sweepIndex
        guard index >= 0, index < self.handlers.count, self.handlers[index] === handler else { return }
        let last = self.handlers.removeLast()
        if index < self.handlers.count {
            self.handlers[index] = last
            last.sweepIndex = index
        }
        handler.sweepIndex = -1
    }

    private func scheduleSweep() {
        self.loop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: self.granularity) { self.sweep() }
    }

    private func sweep() {
        let now = NIODeadline.now()
        // Collected first: a tick may close a connection, which removes it from `handlers`.
        let due = self.handlers.filter { $0.keepAliveDue <= now }
        for handler in due { handler.keepAliveTick(at: now) }
        if self.handlers.isEmpty {
            self.scheduled = false
        } else {
            self.scheduleSweep()
        }
    }
}

extension KeepAliveSweeper: @unchecked Sendable {}
