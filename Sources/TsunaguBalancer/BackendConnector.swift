import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Opens the backend side of one client connection: tries the backends of a plan in order and
/// answers the first channel that connects.
///
/// A refused connect fails at once; a silent one (a node whose machine is gone) is abandoned
/// after `connectTimeout`. Each failure is counted and the next backend is tried. When the whole
/// plan failed and some connects only timed out, the first of those backends gets one more,
/// patient attempt (`busyConnectTimeout`): a node swamped by a reconnect storm has a full accept queue, so the
/// kernel drops SYNs and retries them after 1 s and 3 s. Giving up after 500 ms there closed
/// the client, which retried, and the retries buried the nodes. A client only sees a failure when
/// every backend of the plan failed twice or refused.
struct BackendConnector: Sendable {
    var connectTimeout: TimeAmount
    var busyConnectTimeout: TimeAmount = .seconds(5)
    var counters: BalancerCounters
    var logger: Logger
    /// Local addresses for backend connections, taken in turn (see `BalancerConfiguration`).
    var sources = SourceAddressRotation(addresses: [])

    func connect(
        to plan: ArraySlice<Backend>,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<(any Channel, Backend)> {
        self.connect(to: plan, timeout: self.connectTimeout, timedOut: [], on: eventLoop)
    }

    /// `timedOut` collects the backends of the first pass whose connect timed out; nil in the
    /// second pass.
    private func connect(
        to plan: ArraySlice<Backend>,
        timeout: TimeAmount,
        timedOut: [Backend]?,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<(any Channel, Backend)> {
        guard let backend = plan.first else {
            // One patient attempt, at the first node that timed out: trying each for 5 s would
            // outlast the client's own patience.
            if let busy = timedOut?.first {
                return self.connect(to: [busy][...], timeout: self.busyConnectTimeout, timedOut: nil, on: eventLoop)
            }
            return eventLoop.makeFailedFuture(BalancerError.noBackendAvailable)
        }
        return self.bootstrap(on: eventLoop)
            .connectTimeout(timeout)
            .connect(to: backend)
            .map { channel in (channel, backend) }
            .flatMapError { error in
                self.counters.connectFailed(backend)
                self.logger.debug(
                    "backend connect failed",
                    metadata: ["balancer.backend": "\(backend)", "balancer.error": "\(error)"]
                )
                var timedOut = timedOut
                if case ChannelError.connectTimeout = error { timedOut?.append(backend) }
                return self.connect(to: plan.dropFirst(), timeout: timeout, timedOut: timedOut, on: eventLoop)
            }
    }

    private func bootstrap(on eventLoop: any EventLoop) -> ClientBootstrap {
        // The backend channel lives on the client channel's event loop so that the two glue
        // handlers can call each other directly. It does not read until it is glued: a node
        // that speaks first must not have its bytes read with nowhere to go.
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: false)
            .channelOption(.allowRemoteHalfClosure, value: true)
        guard let source = self.sources.next() else { return bootstrap }
        #if os(Linux)
        // IP_BIND_ADDRESS_NO_PORT (24): the ephemeral port is chosen at connect(), per
        // destination, instead of at bind() from one range shared by every destination.
        if source.protocol == .inet {
            return bootstrap.channelOption(.ipOption(.init(rawValue: 24)), value: 1).bind(to: source)
        }
        #endif
        return bootstrap.bind(to: source)
    }
}

/// Hands out the configured source addresses in turn, from any thread.
final class SourceAddressRotation: Sendable {
    private let addresses: [SocketAddress]
    private let turn = Atomic<Int>(0)

    init(addresses: [SocketAddress]) { self.addresses = addresses }

    func next() -> SocketAddress? {
        guard !self.addresses.isEmpty else { return nil }
        let turn = self.turn.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max
        return self.addresses[turn % self.addresses.count]
    }
}

extension ClientBootstrap {
    /// Connects to a backend. An IP literal (the registry's usual form) is connected to directly;
    /// only a host name goes through the resolver, which would otherwise add a thread hop to every
    /// connect.
    func connect(to backend: Backend) -> EventLoopFuture<any Channel> {
        if let address = try? SocketAddress(ipAddress: backend.host, port: backend.port) {
            return self.connect(to: address)
        }
        return self.connect(host: backend.host, port: backend.port)
    }
}
