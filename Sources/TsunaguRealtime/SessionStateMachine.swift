import TsunaguCore

/// The life of one client connection on `/v1/ws`: awaiting auth → authenticating → live →
/// draining → closed. Every way a connection can end passes through here, and each returns the
/// actions that carry it out, the close code included (`ConnectionEnding`). The one rule for the
/// registries: the connection enters them when auth succeeds (`register`) and leaves all of them
/// exactly once, when its transport is gone (`leaveRegistries`).
///
/// Pure: the node keeps one per connection behind the connection's lock and runs the actions
/// outside it. `Session` is the node's session record (the core knows nothing of the store).
public struct SessionStateMachine<Session: Sendable>: Sendable {
    public enum State: Sendable, Equatable {
        case awaitingAuth
        /// At least one `auth` is being checked.
        case authenticating
        case live
        /// Told to reconnect elsewhere; the Close frame is on its way.
        case draining
        /// Closed by the node (Close frame sent) or by the client (transport gone).
        case closed
    }

    public enum Action: Sendable, Equatable {
        /// Stop the auth timer: the connection authenticated.
        case cancelAuthTimer
        /// Enter the node's registries under this session (revocation, expiry, drain find it).
        case register
        /// Send `{"type":"reconnect","reason":"draining","after_ms":…}` first.
        case sendReconnect(afterMillis: Int)
        /// Send a Close frame with this ending's code and reason.
        case close(ConnectionEnding)
        /// Leave every registry and end every subscription (the transport is gone).
        case leaveRegistries
    }

    /// What to do with an `auth` request.
    public enum AuthAdmission: Sendable, Equatable {
        case check
        case alreadyAuthenticated
        /// The connection is ending; the request is dropped.
        case closing
    }

    /// What to do with any other request.
    public enum RequestAdmission: Sendable {
        case proceed(Session)
        case notAuthenticated
        case expired
    }

    public private(set) var state: State = .awaitingAuth
    public private(set) var session: Session?
    /// When the node itself closed the connection, why.
    public private(set) var ending: ConnectionEnding?
    private var sessionExpiresAtMillis: Int64 = .max
    private var authsPending = 0
    private var authDeadlinePassed = false
    private var leftRegistries = false
    private var budget: MalformedMessageBudget

    public init(malformedBudget: MalformedMessageBudget = MalformedMessageBudget()) {
        self.budget = malformedBudget
    }

    public var isAuthenticated: Bool { session != nil }
    /// The transport is gone: no request is taken any more.
    public var isTransportClosed: Bool { leftRegistries }

    // MARK: authentication

    /// An `auth` arrived (counted from its arrival, though it may wait behind other requests).
    /// One that is refused later, or finds the connection authenticated by an earlier one when
    /// its turn comes, ends with `authFailed`.
    public mutating func authReceived() -> AuthAdmission {
        switch state {
        case .live: return .alreadyAuthenticated
        case .draining, .closed: return session == nil ? .closing : .alreadyAuthenticated
        case .awaitingAuth, .authenticating:
            authsPending += 1
            state = .authenticating
            return .check
        }
    }

    public mutating func authSucceeded(_ session: Session, expiresAtMillis: Int64) -> [Action] {
        authsPending -= 1
        guard state == .authenticating, self.session == nil else { return [] }
        self.session = session
        sessionExpiresAtMillis = expiresAtMillis
        state = .live
        return [.cancelAuthTimer, .register]
    }

    /// A checked `auth` was refused (its error reply is the caller's), or found the connection
    /// already authenticated.
    public mutating func authFailed() -> [Action] {
        authsPending -= 1
        guard state == .authenticating, authsPending == 0 else { return [] }
        state = .awaitingAuth
        return authDeadlinePassed ? end(.authTimeout) : []
    }

    /// The auth timeout passed. An `auth` that arrived in time but is still being checked (a
    /// node busy with a reconnect storm) is waited for: closing it would make the client retry
    /// and the storm worse. The close then comes from `authFailed`, if it fails.
    public mutating func authDeadlineReached() -> [Action] {
        authDeadlinePassed = true
        guard state == .awaitingAuth else { return [] }
        return end(.authTimeout)
    }

    // MARK: requests

    public func admit(nowMillis: Int64) -> RequestAdmission {
        guard let session else { return .notAuthenticated }
        return sessionExpiresAtMillis > nowMillis ? .proceed(session) : .expired
    }

    /// A message that is not a valid request; past the budget the connection closes (1008).
    public mutating func malformedMessage(nowMillis: Int64) -> [Action] {
        budget.record(nowMillis: nowMillis) ? [] : end(.malformedMessages)
    }

    // MARK: endings

    /// The session was revoked or expired: the socket ends with it (4003).
    public mutating func sessionEnded(_ cause: ConnectionEnding.SessionEndCause) -> [Action] {
        end(.sessionEnded(cause))
    }

    /// The outbound queue overflowed (4008).
    public mutating func slowConsumer() -> [Action] { end(.slowConsumer) }

    /// A store read a subscription needed failed (1011).
    public mutating func storeUnavailable() -> [Action] { end(.storeUnavailable) }

    /// The node is leaving: tell the client when to come back, then close (1001).
    public mutating func drain(afterMillis: Int) -> [Action] {
        guard state != .closed, state != .draining else { return [] }
        state = .draining
        ending = .draining
        return [.sendReconnect(afterMillis: afterMillis), .close(.draining)]
    }

    /// The transport is gone: the client closed, the WebSocket layer gave up on pings, or a
    /// Close handshake this machine started finished.
    public mutating func transportClosed() -> [Action] {
        state = .closed
        guard !leftRegistries else { return [] }
        leftRegistries = true
        return [.leaveRegistries]
    }

    private mutating func end(_ reason: ConnectionEnding) -> [Action] {
        guard state != .closed, state != .draining else { return [] }
        state = .closed
        ending = reason
        return [.close(reason)]
    }
}
