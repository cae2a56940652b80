import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import TsunaguCore
import TsunaguMail
import TsunaguNode

/// Flags that shape a node, shared by `serve` and `up`.
struct NodeOptions: ParsableArguments {
    @Option(help: "PEM certificate chain for TLS on the same port.") var tlsCert: String?
    @Option(help: "PEM private key for TLS.") var tlsKey: String?
    @Option(help: "PEM CA of client certificates (second factor): the node requests one on every TLS connection.")
    var tlsClientCa: String?
    @Option(help: "Largest WebSocket message accepted, in bytes (larger: close 1009).")
    var maxMessageBytes = 65_536
    @Option(help: "Time zone of every time the hub prints (IANA name).") var timeZone = "Asia/Tokyo"
    @Option(help: "Lifetime of a login session, in seconds.") var sessionTtl = 12 * 3600
    @Option(help: ArgumentHelp("Send mail through this SMTP relay: smtp://[user@]host:port (STARTTLS) or smtps://[user@]host:port (implicit TLS); without it mail is written as .eml files into outbox/ beside the store. Never put the password here: see --smtp-password-file.", valueName: "url"))
    var smtpURL: String?
    @Option(help: ArgumentHelp("File holding the SMTP password (also $TSUNAGU_SMTP_PASSWORD_FILE; or the password itself in $TSUNAGU_SMTP_PASSWORD). Never on the command line.", valueName: "file"))
    var smtpPasswordFile: String?
    @Flag(inversion: .prefixedNo, help: "Refuse to send mail unless the SMTP session is encrypted (STARTTLS or smtps://); a relay on loopback is exempt. On by default.")
    var smtpRequireTls = true
    @Option(help: "Sender address of the hub's mail.") var mailFrom = "tsunagu@localhost"
    @Option(help: "The URL users reach the hub at, for links in mail (default: `up`'s own http(s)://HOST:PORT; for `serve`, http://127.0.0.1:8080).")
    var publicURL: String?
    @Option(help: "Seconds an activation link stays valid.") var linkLifetime = 1800
    @Flag(help: "Serve the WebSocket echo endpoint /v1/echo for the Autobahn conformance suite. Never in production.")
    var conformanceEcho = false
    @Option(help: ArgumentHelp("Event-loop threads (default: the number of cores). Fewer when many processes share the cores.", valueName: "n"))
    var eventLoops = System.coreCount

    /// Peer links over mutual TLS; passed to node processes per node (`PeerTLSOptions.arguments(node:)`),
    /// not in `arguments`.
    @OptionGroup var peerTLS: PeerTLSOptions

    @Flag(help: "Serve without TLS on an address other than loopback (refused otherwise: tokens and patient data would cross the network in the clear).")
    var insecurePlaintext = false

    @Option(help: ArgumentHelp("Write signed checkpoints of the audit log here (every 5 minutes, every 200 entries, at shutdown), outside the store; `tsunagu audit verify --audit-anchor-dir` checks the log against them.", valueName: "dir"))
    var auditAnchorDir: String?

    @Option(name: .customLong("trusted-proxy"), help: ArgumentHelp(
        "An address range (CIDR) whose connections may open with a PROXY protocol v2 header naming the real client, as the balancer sends; repeatable. Default: 127.0.0.0/8 and ::1/128. A PROXY header from any other address is refused.",
        valueName: "cidr"))
    var trustedProxy: [String] = []

    @Option(help: ArgumentHelp("Open connections (HTTP, WebSocket, peer links) at most; the excess is refused with 503 and Retry-After. Default: the open-file limit less a twentieth (at least 512) for the rest of the process.", valueName: "n"))
    var maxConnections: Int?
    @Option(help: ArgumentHelp("Open connections from one client address at most (the real client behind a trusted proxy). Default: a quarter of --max-connections.", valueName: "n"))
    var maxConnectionsPerSource: Int?
    @Option(help: ArgumentHelp("Seconds a connection has to deliver a whole HTTP request, from accept or from its first byte after a pause.", valueName: "seconds"))
    var requestTimeout = 10
    @Option(help: ArgumentHelp("Seconds an idle keep-alive HTTP connection stays open.", valueName: "seconds"))
    var idleTimeout = 60
    @Option(help: ArgumentHelp("Posts one user may make in a burst, refilled over --post-window; 0: no limit (load tests that post as one user).", valueName: "n"))
    var maxPostsPerUser = 20
    @Option(help: ArgumentHelp("Seconds over which --max-posts-per-user refills.", valueName: "seconds"))
    var postWindow = 10

    mutating func validate() throws {
        // Certificate files are checked here, so a wrong name is a one-line usage error naming
        // the flag and the file instead of a TLS library error at start.
        if let tlsCert { self.tlsCert = try PathArgument.existingFile(tlsCert, flag: "--tls-cert") }
        if let tlsKey { self.tlsKey = try PathArgument.existingFile(tlsKey, flag: "--tls-key") }
        if let tlsClientCa { self.tlsClientCa = try PathArgument.existingFile(tlsClientCa, flag: "--tls-client-ca") }
        if let maxConnections, !(16...10_000_000).contains(maxConnections) {
            throw ValidationError("--max-connections: from 16 to 10000000")
        }
        if let maxConnectionsPerSource, !(1...10_000_000).contains(maxConnectionsPerSource) {
            throw ValidationError("--max-connections-per-source: from 1 to 10000000")
        }
        guard (1...3600).contains(requestTimeout) else { throw ValidationError("--request-timeout: from 1 to 3600 seconds") }
        guard (1...86400).contains(idleTimeout) else { throw ValidationError("--idle-timeout: from 1 to 86400 seconds") }
        guard (0...100_000).contains(maxPostsPerUser) else { throw ValidationError("--max-posts-per-user: from 0 to 100000") }
        guard (1...3600).contains(postWindow) else { throw ValidationError("--post-window: from 1 to 3600 seconds") }
        for range in trustedProxy where CIDR(range) == nil {
            throw ValidationError("--trusted-proxy: '\(range)' is not an address range such as 10.0.0.0/8 or ::1/128")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsClientCa != nil && tlsCert == nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        guard (1024...(16 << 20)).contains(maxMessageBytes) else {
            throw ValidationError("--max-message-bytes: from 1024 to 16777216")
        }
        guard Self.isKnownZone(timeZone) else { throw ValidationError("--time-zone: unknown zone '\(timeZone)' (an IANA name such as Asia/Tokyo or UTC)") }
        guard (60...(30 * 86400)).contains(sessionTtl) else { throw ValidationError("--session-ttl: from 60 to 2592000 seconds") }
        if let smtpURL {
            let parsed: SMTPConfiguration
            do { parsed = try SMTPConfiguration.parse(url: smtpURL) } catch { throw ValidationError("--smtp-url: \(error)") }
            // argv is visible to every user of the machine (`ps`): the password comes from a file or the environment.
            if parsed.password != nil {
                throw ValidationError("--smtp-url: must not carry a password (it would show in ps); use --smtp-password-file, TSUNAGU_SMTP_PASSWORD_FILE or TSUNAGU_SMTP_PASSWORD")
            }
        } else if smtpPasswordFile != nil {
            throw ValidationError("--smtp-password-file: needs --smtp-url")
        }
        guard (60...(7 * 86400)).contains(linkLifetime) else { throw ValidationError("--link-lifetime: from 60 to 604800 seconds") }
        if let publicURL {
            guard let url = URL(string: publicURL), ["http", "https"].contains(url.scheme ?? ""),
                let host = url.host, !host.isEmpty
            else { throw ValidationError("--public-url: an http:// or https:// URL with a host") }
        }
        guard (1...256).contains(eventLoops) else { throw ValidationError("--event-loops: from 1 to 256") }
    }

    /// The same options as `tsunagu serve` flags, for the node processes `up` starts.
    /// A node on an address other than loopback serves TLS, unless the operator says otherwise.
    func checkTransport(host: String, flag: String) throws {
        guard tlsCert == nil, !insecurePlaintext, !Self.isLoopback(host) else { return }
        throw ValidationError("\(flag): \(host) is not a loopback address; give --tls-cert and --tls-key (or --insecure-plaintext, where a TLS proxy in front ends TLS)")
    }

    /// `serve`'s default public URL: the embedded balancer's default address (`up` passes its own).
    static let servePublicURL = "http://127.0.0.1:8080"

    /// Only names from the zone database: `TimeZone(identifier:)` alone would read a path like
    /// `../../x` relative to the zone directory.
    static func isKnownZone(_ name: String) -> Bool {
        name == "UTC" || (TimeZone.knownTimeZoneIdentifiers.contains(name) && TimeZone(identifier: name) != nil)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    var arguments: [String] {
        var arguments = ["--max-message-bytes", String(maxMessageBytes), "--time-zone", timeZone,
                         "--session-ttl", String(sessionTtl)]
        if let tlsCert, let tlsKey { arguments += ["--tls-cert", tlsCert, "--tls-key", tlsKey] }
        if let tlsClientCa { arguments += ["--tls-client-ca", tlsClientCa] }
        if conformanceEcho { arguments.append("--conformance-echo") }
        if insecurePlaintext { arguments.append("--insecure-plaintext") }
        arguments += ["--event-loops", String(eventLoops)]
        for range in trustedProxy { arguments += ["--trusted-proxy", range] }
        if let auditAnchorDir { arguments += ["--audit-anchor-dir", auditAnchorDir] }
        // The URL carries no password (validate); the password travels as a file name or, from
        // TSUNAGU_SMTP_PASSWORD*, in the environment the node processes inherit.
        if let maxConnections { arguments += ["--max-connections", String(maxConnections)] }
        if let maxConnectionsPerSource { arguments += ["--max-connections-per-source", String(maxConnectionsPerSource)] }
        arguments += ["--request-timeout", String(requestTimeout), "--idle-timeout", String(idleTimeout),
                      "--max-posts-per-user", String(maxPostsPerUser), "--post-window", String(postWindow)]
        if let smtpURL { arguments += ["--smtp-url", smtpURL] }
        if let smtpPasswordFile { arguments += ["--smtp-password-file", smtpPasswordFile] }
        if !smtpRequireTls { arguments.append("--no-smtp-require-tls") }
        arguments += ["--mail-from", mailFrom, "--link-lifetime", String(linkLifetime)]
        if let publicURL { arguments += ["--public-url", publicURL] }
        return arguments
    }

    func apply(to configuration: inout NodeConfiguration, dataDirectory: String) throws {
        try apply(to: &configuration)
        if let smtpURL {
            var smtp = try SMTPConfiguration.parse(url: smtpURL)
            smtp.requireTLSUnlessOnLoopback(smtpRequireTls)
            if let password = try Self.smtpPassword(file: smtpPasswordFile, environment: ProcessInfo.processInfo.environment) {
                guard smtp.username != nil else {
                    throw CLIError("--smtp-url: give the user name (smtp://USER@HOST:PORT) to go with the SMTP password")
                }
                smtp.password = password
            }
            configuration.mailTransport = SMTPTransport(configuration: smtp, group: MultiThreadedEventLoopGroup.singleton)
        } else {
            configuration.mailTransport = DirectoryTransport(directory: dataDirectory + "/outbox")
        }
        configuration.mailFrom = mailFrom
        let publicURL = self.publicURL ?? Self.servePublicURL
        configuration.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        configuration.linkLifetimeSeconds = Int64(linkLifetime)
    }

    /// The SMTP password: from `--smtp-password-file`, else `TSUNAGU_SMTP_PASSWORD_FILE`, else
    /// `TSUNAGU_SMTP_PASSWORD`; nil when none is given. One trailing newline of a file is dropped.
    static func smtpPassword(file: String?, environment: [String: String]) throws -> String? {
        if let path = file ?? environment["TSUNAGU_SMTP_PASSWORD_FILE"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CLIError("--smtp-password-file: cannot read \(path)")
            }
            var password = Substring(text)
            if password.hasSuffix("\n") { password = password.dropLast() }
            if password.hasSuffix("\r") { password = password.dropLast() }
            guard !password.isEmpty else { throw CLIError("--smtp-password-file: \(path) is empty") }
            return String(password)
        }
        return environment["TSUNAGU_SMTP_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func apply(to configuration: inout NodeConfiguration) throws {
        if let tlsCert, let tlsKey {
            do {
                configuration.tls = try NodeTLS.fromPEMFiles(certificate: tlsCert, key: tlsKey, clientCA: tlsClientCa)
            } catch {
                let files = [("--tls-cert", tlsCert), ("--tls-key", tlsKey), ("--tls-client-ca", tlsClientCa)]
                    .compactMap { flag, path in path.map { "\(flag) \($0)" } }.joined(separator: ", ")
                throw CLIError("cannot load TLS from \(files): \(oneLine(error))")
            }
        }
        configuration.limits.maxMessageBytes = maxMessageBytes
        configuration.time = WireTime(timeZone: TimeZone(identifier: timeZone)!)
        configuration.sessionLifetimeSeconds = Int64(sessionTtl)
        configuration.conformanceEcho = conformanceEcho
        configuration.eventLoopThreads = eventLoops
        if !trustedProxy.isEmpty { configuration.trustedProxies = trustedProxy.compactMap(CIDR.init) }
        // A server uses the descriptors the operator granted; the default cap keeps headroom below them.
        let fileLimit = ProcessFileLimit.raiseToHardLimit()
        configuration.maxConnections = maxConnections ?? ConnectionGate.defaultMaxConnections(fileLimit: fileLimit)
        configuration.maxConnectionsPerSource = maxConnectionsPerSource ?? max(1, configuration.maxConnections / 4)
        configuration.requestTimeout = .seconds(Int64(requestTimeout))
        configuration.idleTimeout = .seconds(Int64(idleTimeout))
        configuration.postBurst = maxPostsPerUser
        configuration.postWindowSeconds = postWindow
    }
}

/// "HOST:PORT" as given to `--listen`.
struct ListenAddress: ExpressibleByArgument {
    var host: String
    var port: Int

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}
