/// Errors of the balancer module.
public enum BalancerError: Error, Hashable, Sendable {
    /// `start()` was called on a server that is already running or was shut down.
    case alreadyStarted
    /// Every backend of a connection's plan refused or timed out (or there was none).
    case noBackendAvailable
}
