import NIOCore
import TsunaguCore

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
    /// Client connections from one address at most (`--max-connections-per-source`); the excess
    /// is closed at accept, before anything is read or any backend is dialled. Default: a
    /// quarter of what the open-file limit allows (each spliced connection holds two descriptors).
    public var maxConnectionsPerSource = max(1, ConnectionGate.defaultMaxConnections(fileLimit: ProcessFileLimit.current) / 8)
    /// Client connections waiting for a backend connect at most (`--max-waiting`): when nodes
    /// are slow to accept, more arrivals are closed at once instead of piling up.
    public var maxWaiting = 4096
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`; `--admin-listen`): loopback, an
    /// ephemeral port unless the operator names one. Nothing of it is served on the client port.
    public var adminHost = "127.0.0.1"
    public var adminPort = 0

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
