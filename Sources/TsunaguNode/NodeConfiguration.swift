import Foundation
import NIOCore
import TsunaguCore
import TsunaguCrypto
import TsunaguMail
import TsunaguRealtime
import TsunaguStore
import TsunaguWebSocket

/// Everything a node is told at start. Built by the executable from flags and environment; the
/// node itself reads no flags or files.
public struct NodeConfiguration: Sendable {
    public var nodeID: NodeID
    public var host: String
    public var port: Int
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`): loopback, an ephemeral port unless
    /// the operator names one (`--admin-listen`).
    public var adminHost = "127.0.0.1"
    public var adminPort = 0
    /// A reply that overflows a connection's queue closes it as a slow consumer (4008).
    public var limits = WebSocketLimits(overflowCloseCode: ConnectionEnding.slowConsumer.closeCode,
                                        overflowCloseReason: ConnectionEnding.slowConsumer.reason)
    /// permessage-deflate offered to clients that ask (RFC 7692).
    public var compression = true
    /// Seconds a new connection has to send a valid `auth` (docs/protocol.md: 10 s, close 4001).
    public var authTimeout: TimeAmount = .seconds(10)
    public var sessionLifetimeSeconds: Int64 = 12 * 3600
    public var time = WireTime.japan
    /// Serve the WebSocket echo endpoint `/v1/echo` on the same stack, for the Autobahn suite only.
    public var conformanceEcho = false
    /// TLS on the same listener, when given.
    public var tls: NodeTLS?
    /// Largest HTTP request body the JSON API accepts.
    public var maxHTTPBodyBytes = 1 << 20
    public var eventLoopThreads = System.coreCount
    /// Key for peer-link authentication (derived from the master key by the executable). With a
    /// key the node joins the membership registry, heartbeats, and links to its peers; without
    /// one it runs alone.
    public var peerKey: SymmetricKey?
    /// Peer links over mutually authenticated TLS with the cluster CA (`--peer-tls-*`). Without
    /// it, peer links are plaintext (still HMAC-authenticated) and accepted from loopback only.
    public var peerTLS: PeerTLS?
    /// Heartbeat period and the lease after which a silent node counts as dead.
    public var heartbeatInterval: TimeAmount = .seconds(1)
    public var leaseMillis: Int64 = HubStore.defaultLeaseMillis
    /// Clients are told to come back within this many milliseconds, spread at random, on drain.
    public var drainJitterMillis = 2000
    /// Where queued mail goes (SMTP, or .eml files); nil: this node runs no mail worker.
    public var mailTransport: (any MailTransport)?
    public var mailFrom = "tsunagu@localhost"
    /// The address users reach the hub at, for links in mail.
    public var publicURL = "http://127.0.0.1:8080"
    /// Activation links are valid this long (white paper: links that expire), 30 min by default.
    public var linkLifetimeSeconds: Int64 = 1800
    /// Failed logins that lock an address or a source address, and for how long.
    public var loginThrottle = LoginThrottlePolicy()
    /// Requests for activation links (`POST /v1/registrations`) and link completions per e-mail
    /// address and per source address; beyond them `rate_limited`.
    public var registrationThrottle = RequestThrottlePolicy(perAddress: 3, perSource: 20)
    public var activationThrottle = RequestThrottlePolicy(perAddress: 10, perSource: 20)
    /// `POST /v1/registrations` answers no sooner than this after it arrives, whether or not the
    /// address is known (a known one costs a link, a mail and an audit entry), so its timing
    /// tells nothing. Above the known path's time with room to spare (docs/security.md).
    public var registrationAnswerFloor: Duration = .milliseconds(40)
    /// `POST /v1/timelines/{id}/members` for an address outside the owner's organization answers
    /// 202 no sooner than this, whether or not the address exists (an invitation costs a write
    /// and an audit entry more than an unknown address).
    public var memberAnswerFloor: Duration = .milliseconds(40)
    /// `POST /v1/admin/users` answers 202 no sooner than this, whether or not the address has an
    /// account (a new one costs a user, a link and a mail; a known one a mail).
    public var adminInviteAnswerFloor: Duration = .milliseconds(40)
    /// Addresses whose connections may open with a PROXY protocol v2 header naming the real
    /// client (`--trusted-proxy`); a PROXY header from any other address is refused.
    public var trustedProxies: [CIDR] = CIDR.loopback
    /// How often the node reads the store's revocation table (logouts, disabled users, removed
    /// members): the durable path beside the peer message, so at most this long plus a read.
    public var revocationPollInterval: Duration = .seconds(1)
    /// How often the node checks that the sessions it holds sockets for are still live (the idle
    /// timeout of a socket that sends nothing).
    public var idleSessionSweepInterval: Duration = .seconds(30)
    /// Operations (docs/operations.md): the running build, where the store's data lives
    /// (`--data-location`), the monitors' thresholds and how often notices are reloaded.
    public var build = BuildInfo.current
    public var dataLocation: DataLocation?
    public var monitorThresholds = MonitorThresholds()
    public var noticeRefreshInterval: Duration = .seconds(2)
    /// The whole HTTP request (head and body) must arrive within this long after the connection
    /// opens or after its first byte following a pause; idle keep-alive connections close after
    /// `idleTimeout` (docs/security.md, "Slow and greedy clients").
    public var requestTimeout: TimeAmount = .seconds(10)
    public var idleTimeout: TimeAmount = .seconds(60)
    /// Open connections (HTTP, WebSocket, peer links) at most, in total and per client address
    /// (`--max-connections`, `--max-connections-per-source`); the excess is refused with 503.
    /// The total stays under the open-file limit, so the accept loop never fails on descriptors.
    public var maxConnections = ConnectionGate.defaultMaxConnections(fileLimit: ProcessFileLimit.current)
    public var maxConnectionsPerSource = ConnectionGate.defaultMaxConnections(fileLimit: ProcessFileLimit.current) / 4
    /// Posts per user a node accepts in a burst, refilled evenly over `postWindowSeconds`
    /// (`rate_limited` beyond it); 0: no limit.
    public var postBurst = 20
    public var postWindowSeconds = 10
    /// Fault injection for tests: the fraction of outbound peer announcements dropped.
    public var peerDropRate: Double = 0

    public init(nodeID: NodeID = .random(), host: String = "127.0.0.1", port: Int = 0) {
        self.nodeID = nodeID
        self.host = host
        self.port = port
    }
}
