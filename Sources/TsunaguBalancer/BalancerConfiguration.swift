import NIOCore

/// How the balancer listens and how eagerly it follows the cluster.
///
/// The defaults give the guarantees in `docs/balancer.md`: a node that joins the registry is
/// used within 2 s (one directory poll plus its first health check), a node that leaves it gets
/// no new connection after the next poll.
public struct BalancerConfiguration: Sendable {
    /// Address to accept client connections on.
    public var host: String
    /// Port to accept client connections on; 0 lets the system pick (see `BalancerServer.start()`).
    public var port: Int
    /// How often the membership directory is read.
    public var directoryRefresh: TimeAmount = .milliseconds(500)
    /// How often each backend's `GET /readyz` is checked.
    public var healthInterval: TimeAmount = .seconds(1)
    /// How long a health check may take, connect included, before the node counts as not ready.
    public var healthTimeout: TimeAmount = .seconds(1)
    /// How long a connect to a picked backend may take before the next backend is tried.
    public var connectTimeout: TimeAmount = .milliseconds(500)
    /// When every backend of a connection's plan failed and some only timed out, the first of
    /// those is tried once more with this timeout: a saturated node drops SYNs for a while, it is
    /// not gone.
    public var busyConnectTimeout: TimeAmount = .seconds(5)
    /// Event-loop threads that accept, connect and splice.
    public var eventLoopThreads: Int = System.coreCount
    /// Local IP addresses for backend connections, used in turn; empty: the system chooses.
    /// One (source, backend) address pair has one ephemeral port range (about 14,000 usable
    /// ports per backend were measured here), so a balancer process feeding more connections to a
    /// node than that needs several sources (HAProxy's `source`, nginx's `proxy_bind`).
    public var sourceAddresses: [String] = []

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
