import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The balancer's admin listener (`tsunagu balance --admin-listen`, loopback by default):
/// `GET /metrics` (Prometheus text), `GET /healthz`, `GET /readyz` (at least one backend ready),
/// like the nodes' admin listener. The client port is a TCP splice and answers none of them.
enum BalancerAdminListener {
    static func bind(host: String, port: Int, group: any EventLoopGroup,
                     metrics: @escaping @Sendable () -> String,
                     ready: @escaping @Sendable () -> Bool) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(metrics: metrics, ready: ready))
                }
            }
            .bind(host: host, port: port).get()
    }
}

/// Answers one admin request per head; bodies are ignored (every endpoint is a GET).
private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: @Sendable () -> String
    private let ready: @Sendable () -> Bool
    private var head: HTTPRequestHead?

    init(metrics: @escaping @Sendable () -> String, ready: @escaping @Sendable () -> Bool) {
        self.metrics = metrics
        self.ready = ready
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let (status, contentType, body): (HTTPResponseStatus, String, String)
        switch (head.method, path) {
        case (.GET, "/metrics"):
            (status, contentType, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics())
        case (.GET, "/healthz"):
            (status, contentType, body) = (.ok, "application/json", #"{"status":"ok"}"#)
        case (.GET, "/readyz"):
            (status, contentType, body) = ready()
                ? (.ok, "application/json", #"{"status":"ready"}"#)
                : (.serviceUnavailable, "application/json", #"{"code":"unavailable","message":"no backend is ready"}"#)
        case (_, "/metrics"), (_, "/healthz"), (_, "/readyz"):
            (status, contentType, body) = (.methodNotAllowed, "application/json",
                                           #"{"code":"bad_request","message":"method not allowed on this endpoint"}"#)
        default:
            (status, contentType, body) = (.notFound, "application/json", #"{"code":"not_found","message":"no such endpoint"}"#)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let keepAlive = head.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}

/// The balancer's counters in the Prometheus text format (version 0.0.4). Labels are backend
/// ids only: a handful per cluster, never a client address.
enum BalancerMetrics {
    static func exposition(_ counters: BalancerCounters) -> String {
        let snapshot = counters.snapshot
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Int)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name)\(labels) \(value)\n" }
        }
        metric("tsunagu_balancer_connections_accepted_total", "counter", "Client connections accepted.",
               [("", snapshot.accepted)])
        metric("tsunagu_balancer_connections_open", "gauge", "Client connections open (waiting or spliced).",
               [("", snapshot.active)])
        metric("tsunagu_balancer_connections_rejected_total", "counter",
               "Client connections closed because no backend could be reached.", [("", snapshot.rejected)])
        metric("tsunagu_balancer_connections_refused_total", "counter",
               "Client connections refused at accept, by cap.",
               [(#"{cap="per_source"}"#, snapshot.refusedPerSource), (#"{cap="waiting"}"#, snapshot.refusedWaiting)])
        let traffic = counters.trafficByBackend
        func label(_ id: String) -> String {
            "{backend=\"" + id.map { $0 == "\"" || $0 == "\\" ? "\\\($0)" : String($0) }.joined() + "\"}"
        }
        metric("tsunagu_balancer_backend_connections", "gauge", "Spliced connections open, by backend.",
               traffic.map { (label($0.0), $0.1.open.load(ordering: .relaxed)) })
        metric("tsunagu_balancer_backend_connections_total", "counter", "Connections spliced, by backend.",
               traffic.map { (label($0.0), snapshot.picks[$0.0] ?? 0) })
        metric("tsunagu_balancer_backend_bytes_total", "counter", "Bytes relayed, by backend and direction.",
               traffic.flatMap { id, traffic in
                   [(String(label(id).dropLast()) + #",direction="to_backend"}"#, traffic.bytesToBackend.load(ordering: .relaxed)),
                    (String(label(id).dropLast()) + #",direction="from_backend"}"#,
                     traffic.bytesFromBackend.load(ordering: .relaxed))]
               })
        metric("tsunagu_balancer_backend_connect_failures_total", "counter",
               "Connects to a backend that were refused or timed out, by backend.",
               traffic.map { (label($0.0), $0.1.connectFailures.load(ordering: .relaxed)) })
        return out
    }
}
