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
    @Option(help: ArgumentHelp("Send mail through this SMTP server (smtp://[user:pass@]host:port); without it mail is written as .eml files into outbox/ beside the store.", valueName: "url"))
    var smtpURL: String?
    @Option(help: "Sender address of the hub's mail.") var mailFrom = "tsunagu@localhost"
    @Option(help: "The URL users reach the hub at, for links in mail.") var publicURL = "http://127.0.0.1:8080"
    @Option(help: "Seconds an activation link stays valid.") var linkLifetime = 1800
    @Flag(help: "Serve the WebSocket echo endpoint /v1/echo for the Autobahn conformance suite. Never in production.")
    var conformanceEcho = false
    @Option(help: ArgumentHelp("Event-loop threads (default: the number of cores). Fewer when many processes share the cores.", valueName: "n"))
    var eventLoops = System.coreCount

    @Flag(help: "Serve without TLS on an address other than loopback (refused otherwise: tokens and patient data would cross the network in the clear).")
    var insecurePlaintext = false

    @Option(name: .customLong("trusted-proxy"), help: ArgumentHelp(
        "An address range (CIDR) whose connections may open with a PROXY protocol v2 header naming the real client, as the balancer sends; repeatable. Default: 127.0.0.0/8 and ::1/128. A PROXY header from any other address is refused.",
        valueName: "cidr"))
    var trustedProxy: [String] = []

    func validate() throws {
        for range in trustedProxy where CIDR(range) == nil {
            throw ValidationError("--trusted-proxy: '\(range)' is not an address range such as 10.0.0.0/8 or ::1/128")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsClientCa != nil && tlsCert == nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        guard (1024...(16 << 20)).contains(maxMessageBytes) else {
            throw ValidationError("--max-message-bytes: from 1024 to 16777216")
        }
        guard TimeZone(identifier: timeZone) != nil else { throw ValidationError("--time-zone: unknown zone '\(timeZone)'") }
        guard (60...(30 * 86400)).contains(sessionTtl) else { throw ValidationError("--session-ttl: from 60 to 2592000 seconds") }
        if let smtpURL {
            do { _ = try SMTPConfiguration.parse(url: smtpURL) } catch { throw ValidationError("--smtp-url: \(error)") }
        }
        guard (60...(7 * 86400)).contains(linkLifetime) else { throw ValidationError("--link-lifetime: from 60 to 604800 seconds") }
        guard publicURL.hasPrefix("http://") || publicURL.hasPrefix("https://") else {
            throw ValidationError("--public-url: an http:// or https:// URL")
        }
        guard (1...256).contains(eventLoops) else { throw ValidationError("--event-loops: from 1 to 256") }
    }

    /// The same options as `tsunagu serve` flags, for the node processes `up` starts.
    /// A node on an address other than loopback serves TLS, unless the operator says otherwise.
    func checkTransport(host: String, flag: String) throws {
        guard tlsCert == nil, !insecurePlaintext, !Self.isLoopback(host) else { return }
        throw ValidationError("\(flag): \(host) is not a loopback address; give --tls-cert and --tls-key (or --insecure-plaintext, where a TLS proxy in front ends TLS)")
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
        if let smtpURL { arguments += ["--smtp-url", smtpURL] }
        arguments += ["--mail-from", mailFrom, "--public-url", publicURL, "--link-lifetime", String(linkLifetime)]
        return arguments
    }

    func apply(to configuration: inout NodeConfiguration, dataDirectory: String) throws {
        try apply(to: &configuration)
        if let smtpURL {
            configuration.mailTransport = SMTPTransport(configuration: try SMTPConfiguration.parse(url: smtpURL),
                                                        group: MultiThreadedEventLoopGroup.singleton)
        } else {
            configuration.mailTransport = DirectoryTransport(
                directory: dataDirectory + "/outbox")
        }
        configuration.mailFrom = mailFrom
        configuration.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        configuration.linkLifetimeSeconds = Int64(linkLifetime)
    }

    func apply(to configuration: inout NodeConfiguration) throws {
        if let tlsCert, let tlsKey {
            do {
                configuration.tls = try NodeTLS.fromPEMFiles(certificate: tlsCert, key: tlsKey, clientCA: tlsClientCa)
            } catch {
                throw CLIError("cannot load the TLS certificate, key or client CA: \(error)")
            }
        }
        configuration.limits.maxMessageBytes = maxMessageBytes
        configuration.time = WireTime(timeZone: TimeZone(identifier: timeZone)!)
        configuration.sessionLifetimeSeconds = Int64(sessionTtl)
        configuration.conformanceEcho = conformanceEcho
        configuration.eventLoopThreads = eventLoops
        if !trustedProxy.isEmpty { configuration.trustedProxies = trustedProxy.compactMap(CIDR.init) }
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
