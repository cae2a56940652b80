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

/// The handler's side of the keep-alive: the timer that drives `KeepAlive`.
extension WebSocketHandler {
    func scheduleKeepAlive(in delay: TimeAmount) {
        guard let context = self.context else { return }
        self.keepAliveTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.keepAliveTick()
        }
    }

    fileprivate func keepAliveTick() {
        guard self.closeState == .open, let context = self.context else { return }
        switch self.keepAlive.tick(at: .now()) {
        case .checkAgain(let delay):
            self.scheduleKeepAlive(in: delay)
        case .ping(let delay):
            let empty = context.channel.allocator.buffer(capacity: 0)
            self.write(OutboundFrame.bytes(opcode: .ping, payload: empty, allocator: context.channel.allocator))
            self.scheduleKeepAlive(in: delay)
        case .giveUp:
            // The peer is gone or hopelessly stalled: send a last Close (1001) and drop the
            // connection without waiting for a handshake that will not come.
            self.closeState = .closed
            self.writer.write(OutboundFrame.close(code: 1001, reason: "ping timeout", allocator: context.channel.allocator))
            self.writer.flush()
            context.close(promise: nil)
        }
    }
}
