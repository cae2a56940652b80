import ArgumentParser
import NIOCore
import TsunaguClient

/// The command line of `tsunagu-load`.
struct TsunaguLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsunagu-load",
        abstract: "Load-test a Tsunagu node or balancer on this machine and check that no event is lost.",
        discussion: """
            How a run goes: it connects --connections WebSocket subscribers (at --ramp per second), logs \
            them in and subscribes each to one of the timelines, round robin. Then --publishers \
            connections post for --duration seconds, at --rate messages per second in total or, with \
            --window, keeping that many posts in flight each. Every subscriber measures how long each \
            message took from the publisher's send to its own delivery (HdrHistogram percentiles).

            The loss check: at the end (after up to --grace seconds for stragglers) every subscriber \
            must hold every seq from the head it subscribed at up to the highest acknowledged post of \
            its timeline, once each and in order. The run also fails when a subscriber cannot connect, \
            a connection is closed by the server (unless --reconnect), or a post stays unanswered.

            Many connections: one source address reaches one port through about 28,000 ephemeral \
            ports, and one process may hold only so many open files. --ports spreads connections over \
            several target ports (balancers or nodes), --source-addresses over several 127.x source \
            addresses, and --processes runs the subscribers in worker processes (publishers stay in \
            this one; the report merges everything, histograms included).

            Reconnect storms: with --reconnect a lost connection (a draining node's `reconnect` \
            message, close 1001/1006, a killed node) is opened again on the next port after a jittered \
            50-200 ms backoff (doubling, at most 5 s), and resubscribed with `since` = the last seq \
            held; replayed events are deduplicated by seq. Publishers re-send unanswered posts with \
            the same client_msg_id. The report adds reconnects, the reconnect latency (loss to \
            subscribed again) and recovery_s (first loss to the last subscriber back).

            Exit status: 0 when the run passed, 1 when it failed (or could not start), 2 for bad \
            flags. Only loopback targets are accepted.

            Examples:
              # One node, or a local `tsunagu up`, on port 8080:
              tsunagu-load --port 8080 --email admin@example.com \\
                --password '...' --create-timelines 4 --connections 500 \\
                --publishers 4 --rate 200 --duration 30

              # 100,000 subscribers: 12 balancer ports, 4 source addresses,
              # 8 worker processes:
              tsunagu-load --ports 9200-9211 --token="$TOKEN" \\
                --source-addresses 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 \\
                --processes 8 --create-timelines 100 --connections 100000 \\
                --ramp 2000 --publishers 8 --rate 500 --duration 120 \\
                --grace 30 --json > run.json

              # A reconnect storm: posts go on for 60 s while a script drains
              # or kills a node; how fast did everyone come back?
              tsunagu-load --ports 9201-9203 --token="$TOKEN" \\
                --create-timelines 10 --connections 5000 --publishers 4 \\
                --rate 200 --duration 60 --grace 20 --reconnect \\
                --plot storm.html

              # The maximum durable post rate: 8 posts in flight per publisher:
              tsunagu-load --port 8080 --token="$TOKEN" --create-timelines 16 \\
                --connections 100 --publishers 16 --window 8 --duration 20

              # An idle hold: 20,000 connections, no posts, for 10 minutes:
              tsunagu-load --port 8080 --token="$TOKEN" --timeline tl_... \\
                --connections 20000 --processes 2 --publishers 0 --rate 0 \\
                --duration 600
            """)

    @Option(help: "Host to connect to: a loopback address (127.0.0.0/8, localhost or ::1).")
    var host = "127.0.0.1"

    @Option(help: "Port of the node or balancer (default 8080).")
    var port: Int?

    @Option(help: ArgumentHelp("Several target ports, comma-separated, ranges allowed (e.g. 9200-9203,9300): connections spread over them round robin; HTTP calls use the first. Instead of --port.",
                               valueName: "list"))
    var ports: String?

    @Option(help: "Path of the WebSocket endpoint.")
    var path = "/v1/ws"

    @Option(help: "Log in with this e-mail (POST /v1/sessions); needs --password. All connections share the session.")
    var email: String?

    @Option(help: "Password for --email.")
    var password: String?

    @Option(help: "Use this session token instead of logging in. Write --token=VALUE: a token may begin with \"-\".")
    var token: String?

    @Option(name: .customLong("timeline"), help: ArgumentHelp("A timeline id to use; repeat for several.", valueName: "id"))
    var timelines: [String] = []

    @Option(help: ArgumentHelp("Create this many group timelines for the run instead of --timeline.", valueName: "k"))
    var createTimelines: Int?

    @Option(help: ArgumentHelp("Number of subscriber connections.", valueName: "n"))
    var connections = 100

    @Option(help: ArgumentHelp("New subscriber connections per second while connecting.", valueName: "per-second"))
    var ramp = 500.0

    @Option(help: ArgumentHelp("Number of publisher connections (separate from the subscribers).", valueName: "p"))
    var publishers = 1

    @Option(help: ArgumentHelp("Messages per second posted, all publishers together (default 10; 0 with --publishers 0 holds the connections idle).", valueName: "msgs-per-s"))
    var rate: Double?

    /// Messages per second, all publishers together: --rate, 10 by default, none with --window.
    var postRate: Double { rate ?? (window == nil ? 10 : 0) }

    @Option(help: ArgumentHelp("How long publishers post, in seconds (1 to 3600).", valueName: "seconds"))
    var duration = 10.0

    @Option(help: ArgumentHelp("How long to wait at the end for outstanding acks and deliveries (0 to 600).", valueName: "seconds"))
    var grace = 5.0

    @Flag(help: "Offer permessage-deflate on every connection.")
    var compression = false

    @Flag(help: "Print the final report as one JSON object on stdout (the human summary goes to stderr).")
    var json = false

    @Option(help: ArgumentHelp("Comma-separated loopback source addresses to spread connections over (more ephemeral ports), e.g. 127.0.0.2,127.0.0.3.",
                               valueName: "addresses"))
    var sourceAddresses: String?

    @Option(help: ArgumentHelp("Event-loop threads (default: the number of cores).", valueName: "n"))
    var eventLoops = System.coreCount

    @Flag(help: "No live progress line on stderr.")
    var quiet = false

    @Flag(help: "Resilient clients: after any connection loss (server close, a draining node's reconnect message, a killed node) reconnect to the next port with a jittered backoff and resubscribe with since = the last seq held; publishers re-send unanswered posts with the same client_msg_id.")
    var reconnect = false

    @Option(help: ArgumentHelp("Run the subscribers in this many worker processes (this binary again); publishers stay in this one. For runs beyond one process's open-file limit.",
                               valueName: "n"))
    var processes = 1

    @Option(help: ArgumentHelp("Closed loop instead of --rate: each publisher keeps this many posts in flight and sends the next as soon as one is acknowledged (the maximum durable post rate).",
                               valueName: "posts"))
    var window: Int?

    @Option(help: ArgumentHelp("Write the latency percentile distribution to FILE: an SVG image (.svg) or an HTML page with the image (.html).",
                               valueName: "file"))
    var plot: String?

    /// Set only on the worker processes that --processes starts; their config comes on stdin.
    @Flag(help: .private)
    var worker = false

    /// How each publisher paces its posts.
    var pacing: Pacing {
        if let window { return .window(window) }
        return .rate(publishers > 0 ? postRate / Double(publishers) : 0)
    }

    /// The ports connections go to, in order; the first also serves the HTTP calls.
    var portList: [Int] {
        guard let ports else { return [port ?? 8080] }
        return (try? Self.parsePorts(ports)) ?? []
    }

    /// "9200-9203,9300" → [9200, 9201, 9202, 9203, 9300].
    static func parsePorts(_ list: String) throws -> [Int] {
        var result: [Int] = []
        for item in list.split(separator: ",").map({ String($0).trimmed }) where !item.isEmpty {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false).map { Int(String($0).trimmed) }
            guard (1...2).contains(bounds.count), let low = bounds.first!, let high = bounds.last!,
                  (1...65535).contains(low), (1...65535).contains(high), low <= high else {
                throw ValidationError("--ports: '\(item)' is not a port or a range LOW-HIGH of ports (1 to 65535)")
            }
            result.append(contentsOf: low...high)
            guard result.count <= 1000 else { throw ValidationError("--ports: at most 1000 ports") }
        }
        guard !result.isEmpty else { throw ValidationError("--ports must name at least one port") }
        return result
    }

    var sourceAddressList: [String] {
        (sourceAddresses ?? "").split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
    }

    func validate() throws {
        if worker { return }  // a worker's configuration arrives on stdin, checked by its parent
        guard Self.isLoopback(host) else {
            throw ValidationError("--host must be a loopback address (127.0.0.0/8, localhost or ::1): '\(host)' is not; this tool is for loopback load tests")
        }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be between 1 and 65535") }
        if let ports {
            guard port == nil else { throw ValidationError("--port and --ports cannot be combined") }
            _ = try Self.parsePorts(ports)
        }
        guard path.hasPrefix("/") else { throw ValidationError("--path must start with '/'") }
        if let token {
            guard !token.isEmpty else { throw ValidationError("--token must not be empty") }
            guard email == nil && password == nil else {
                throw ValidationError("--token cannot be combined with --email/--password")
            }
        } else {
            guard let email, !email.isEmpty else {
                throw ValidationError("--email with --password, or --token, is required")
            }
            guard password != nil else { throw ValidationError("--password is required with --email") }
        }
        switch (timelines.isEmpty, createTimelines) {
        case (true, nil):
            throw ValidationError("--timeline ID (repeatable) or --create-timelines K is required")
        case (false, .some):
            throw ValidationError("--timeline and --create-timelines cannot be combined")
        case (true, .some(let k)):
            guard (1...10_000).contains(k) else { throw ValidationError("--create-timelines must be between 1 and 10000") }
        case (false, nil):
            guard timelines.allSatisfy({ !$0.isEmpty }) else { throw ValidationError("--timeline must not be empty") }
        }
        guard (1...200_000).contains(connections) else { throw ValidationError("--connections must be between 1 and 200000") }
        guard ramp > 0, ramp.isFinite else { throw ValidationError("--ramp must be a positive number of connections per second") }
        guard (0...10_000).contains(publishers) else { throw ValidationError("--publishers must be between 0 and 10000") }
        guard postRate >= 0, postRate <= 1_000_000 else { throw ValidationError("--rate must be between 0 and 1000000 messages per second") }
        if let window {
            guard (1...100_000).contains(window) else { throw ValidationError("--window must be between 1 and 100000 posts in flight") }
            guard postRate == 0 else {
                throw ValidationError("--window and --rate cannot be combined: --window keeps posts in flight, --rate paces them")
            }
            guard publishers > 0 else { throw ValidationError("--window needs at least one publisher (--publishers)") }
        } else if postRate > 0 && publishers == 0 {
            throw ValidationError("--publishers must be at least 1 when --rate is above 0")
        }
        guard (1...64).contains(processes) else { throw ValidationError("--processes must be between 1 and 64") }
        if processes > 1 && connections < processes {
            throw ValidationError("--processes must not exceed --connections")
        }
        if let plot {
            let lower = plot.lowercased()
            guard lower.hasSuffix(".svg") || lower.hasSuffix(".html") || lower.hasSuffix(".htm") else {
                throw ValidationError("--plot: '\(plot)' must end in .svg or .html")
            }
        }
        guard duration >= 1, duration <= 3600 else { throw ValidationError("--duration must be between 1 and 3600 seconds") }
        guard grace >= 0, grace <= 600 else { throw ValidationError("--grace must be between 0 and 600 seconds") }
        guard (1...256).contains(eventLoops) else { throw ValidationError("--event-loops must be between 1 and 256") }
        if sourceAddresses != nil {
            let list = sourceAddressList
            guard !list.isEmpty else { throw ValidationError("--source-addresses must name at least one address") }
            for address in list where !Self.isLoopbackLiteral(address) {
                throw ValidationError("--source-addresses: '\(address)' is not a loopback IP address")
            }
        }
    }

    /// 127.0.0.0/8, ::1 (bracketed or not) or localhost.
    static func isLoopback(_ host: String) -> Bool {
        host.lowercased() == "localhost" || isLoopbackLiteral(host)
    }

    static func isLoopbackLiteral(_ address: String) -> Bool {
        if address == "::1" || address == "[::1]" { return true }
        let parts = address.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        let octets = parts.compactMap { $0.count <= 3 && $0.allSatisfy(\.isASCII) ? UInt8($0) : nil }
        return octets.count == 4 && octets[0] == 127
    }

    /// The host as the socket layer wants it.
    var connectHost: String {
        host == "[::1]" ? "::1" : host
    }
}

extension String {
    var trimmed: String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
