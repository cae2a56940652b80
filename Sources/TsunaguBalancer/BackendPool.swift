import Logging
import NIOCore
import Synchronization

/// The backends a new connection may go to: those in the directory that passed their last
/// health check, and the round-robin rotation over them.
///
/// The directory list is pushed in by `update(members:)` (the server polls the directory); each
/// member is probed on its own repeating timer from the moment it appears until it leaves. A
/// member is not used before its first probe passes, and a member that leaves the directory is
/// out of every plan made after `update` returns, whatever its health.
final class BackendPool: Sendable {
    private struct Member {
        var backend: Backend
        var isReady: Bool
        var probes: RepeatedTask?
        /// Probes in a row that got no answer in time.
        var silentProbes = 0
    }

    /// A ready backend that does not answer this many probes in a row (one a second by default)
    /// is taken out. One late answer on a saturated machine (a connection storm) must not take
    /// every backend out at once; a backend that says no, or refuses the connection, is taken
    /// out at the first probe, and a dead one's connection attempts fail over to the next backend
    /// meanwhile.
    static let silentProbesBeforeOut = 3

    private struct State {
        var members: [Backend: Member] = [:]
        var picker = RoundRobinPicker()
        var isStopped = false
    }

    private let state = Mutex(State())
    private let checker: BackendHealthChecker
    private let healthInterval: TimeAmount
    private let group: any EventLoopGroup
    private let logger: Logger

    init(group: any EventLoopGroup, healthInterval: TimeAmount, healthTimeout: TimeAmount, logger: Logger) {
        self.group = group
        self.healthInterval = healthInterval
        self.checker = BackendHealthChecker(timeout: healthTimeout)
        self.logger = logger
    }

    /// The backends to try for one new connection, in order (see `RoundRobinPicker.attemptOrder`).
    ///
    /// When no member is ready but some were taken out only for silence (probes timing out on a
    /// saturated machine, typically while thousands of clients reconnect after a node loss), the
    /// plan uses those: refusing every client would turn a slow cluster into an unreachable one.
    /// Members that said no (503 while draining) or refused the connection are never used.
    func connectionPlan() -> [Backend] {
        self.state.withLock { state in
            var candidates = state.members.values.filter(\.isReady).map(\.backend)
            if candidates.isEmpty {
                candidates = state.members.values.filter { $0.silentProbes > 0 }.map(\.backend)
            }
            return state.picker.attemptOrder(from: candidates)
        }
    }

    /// Backends that are in the directory and ready, ordered by id.
    var readyBackends: [Backend] {
        self.state.withLock { state in
            state.members.values.filter(\.isReady).map(\.backend).sorted { $0.id < $1.id }
        }
    }

    /// Makes `backends` the directory's membership: starts probing newcomers (the first probe at
    /// once) and forgets members that left. Returns when newcomers' first probes have answered.
    func update(members backends: [Backend]) -> EventLoopFuture<Void> {
        let incoming = Set(backends)
        let (added, removed): ([Backend], [Member]) = self.state.withLock { state in
            guard !state.isStopped else { return ([], []) }
            let removed = state.members.values.filter { !incoming.contains($0.backend) }
            for member in removed {
                state.members[member.backend] = nil
            }
            let added = incoming.filter { state.members[$0] == nil }
            for backend in added {
                state.members[backend] = Member(backend: backend, isReady: false, probes: nil)
            }
            return (Array(added), removed)
        }

        for member in removed {
            member.probes?.cancel()
            self.logger.info("backend left the directory", metadata: ["balancer.backend": "\(member.backend)"])
        }
        var firstProbes: [EventLoopFuture<Void>] = []
        for backend in added {
            self.logger.info("backend joined the directory", metadata: ["balancer.backend": "\(backend)"])
            let eventLoop = self.group.next()
            firstProbes.append(self.probe(backend, on: eventLoop))
            let probes = eventLoop.scheduleRepeatedTask(
                initialDelay: self.healthInterval,
                delay: self.healthInterval
            ) { [self] _ in
                _ = self.probe(backend, on: eventLoop)
            }
            let keep = self.state.withLock { state in
                guard state.members[backend] != nil else { return false }
                state.members[backend]?.probes = probes
                return true
            }
            if !keep { probes.cancel() }
        }
        return EventLoopFuture.andAllComplete(firstProbes, on: self.group.next())
    }

    /// Stops every probe; plans are empty from now on.
    func stop() {
        let members = self.state.withLock { state in
            state.isStopped = true
            defer { state.members = [:] }
            return Array(state.members.values)
        }
        for member in members {
            member.probes?.cancel()
        }
    }

    private func probe(_ backend: Backend, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        self.checker.probe(backend, on: eventLoop).map { result in
            self.record(result, for: backend)
        }
    }

    private func record(_ result: ProbeResult, for backend: Backend) {
        let (changed, isReady): (Bool, Bool) = self.state.withLock { state in
            // A probe that answers after its backend left the directory must not bring it back.
            guard var member = state.members[backend] else { return (false, false) }
            let wasReady = member.isReady
            switch result {
            case .ready:
                member.isReady = true
                member.silentProbes = 0
            case .notReady:
                member.isReady = false
                member.silentProbes = 0
            case .silent:
                member.silentProbes += 1
                if member.silentProbes >= Self.silentProbesBeforeOut { member.isReady = false }
            }
            state.members[backend] = member
            return (wasReady != member.isReady, member.isReady)
        }
        guard changed else { return }
        if isReady {
            self.logger.info("backend ready", metadata: ["balancer.backend": "\(backend)"])
        } else {
            let reason = result == .silent ? "\(Self.silentProbesBeforeOut) probes unanswered" : "answered not ready or refused"
            self.logger.warning("backend not ready", metadata: ["balancer.backend": "\(backend)", "balancer.reason": "\(reason)"])
        }
    }
}
