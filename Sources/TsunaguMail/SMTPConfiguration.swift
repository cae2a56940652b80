import Foundation

/// Where the TLS certificates that vouch for the SMTP server come from.
///
/// Tsunagu's own enum rather than NIOSSL's, so that the node and tests configure mail without
/// importing NIOSSL.
public enum SMTPTrustRoots: Sendable, Equatable {
    /// The operating system's CA bundle.
    case system
    /// A PEM file of CA certificates, e.g. a private CA or a test's self-signed certificate.
    case pemFile(String)
}

/// How to reach the SMTP server (`--smtp-url`).
public struct SMTPConfiguration: Sendable {
    /// The server's host name or IP address; also the name its TLS certificate must carry.
    public var host: String
    public var port: Int
    /// The name sent in EHLO/HELO (RFC 5321 §4.1.1.1: the client's FQDN or an address literal).
    public var heloName: String
    /// Upgrade with STARTTLS whenever the server offers it.
    public var useSTARTTLSWhenOffered = true
    /// TLS from the first byte (`smtps://`, RFC 8314 §3.3), instead of STARTTLS.
    public var implicitTLS = false
    /// Refuse to send a message unless the session is encrypted (`SMTPError.tlsRequired`).
    public var requireTLS = false
    public var tlsTrustRoots: SMTPTrustRoots = .system
    /// Credentials for AUTH PLAIN. They are only ever sent over TLS: configuring them makes TLS
    /// required.
    public var username: String?
    public var password: String?
    /// How long to wait for the connection, for each reply, and for the TLS handshake.
    /// RFC 5321 §4.5.3.2 suggests minutes for relays; a hub's outbox retries instead of waiting.
    public var commandTimeout: Duration = .seconds(30)

    /// - Parameter heloName: defaults to this machine's host name.
    public init(host: String, port: Int = 25, heloName: String? = nil) {
        self.host = host
        self.port = port
        self.heloName = heloName ?? Self.defaultHeloName()
    }

    /// Whether the relay is on this machine (a loopback address or `localhost`): the one place
    /// where plaintext SMTP crosses no network.
    public var relayIsOnLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The operator's TLS requirement (`--smtp-require-tls`, on by default): TLS is required
    /// unless it is off or the relay is on loopback.
    public mutating func requireTLSUnlessOnLoopback(_ required: Bool) {
        requireTLS = required && !relayIsOnLoopback
    }

    /// Parses `smtp://HOST:PORT`, `smtps://HOST:PORT` (implicit TLS, port 465 when omitted), with
    /// an optional `USER@` or `USER:PASSWORD@` (percent-encoded; port 25 when omitted for smtp).
    /// The command line refuses a password here (it would show in `ps`). Errors say what is wrong
    /// without repeating the URL, which may hold a password.
    public static func parse(url: String) throws -> SMTPConfiguration {
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        guard let schemeEnd = trimmed.range(of: "://") else {
            throw SMTPError.invalidConfiguration("SMTP URL must look like smtp://HOST:PORT")
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        let implicitTLS: Bool
        switch scheme {
        case "smtp": implicitTLS = false
        case "smtps": implicitTLS = true
        default:
            throw SMTPError.invalidConfiguration("unsupported scheme '\(scheme)' in SMTP URL; expected smtp:// or smtps://")
        }
        guard let components = URLComponents(string: trimmed) else {
            throw SMTPError.invalidConfiguration("SMTP URL is malformed (percent-encode special characters in user and password)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw SMTPError.invalidConfiguration("SMTP URL has no host")
        }
        if !components.path.isEmpty, components.path != "/" {
            throw SMTPError.invalidConfiguration("SMTP URL must not have a path")
        }
        if components.query != nil || components.fragment != nil {
            throw SMTPError.invalidConfiguration("SMTP URL must not have a query or fragment")
        }
        // URLComponents accepts any digits; a port outside 1...65535 is a typo worth refusing early.
        let port = components.port ?? (implicitTLS ? 465 : 25)
        guard (1...65535).contains(port) else {
            throw SMTPError.invalidConfiguration("SMTP URL port must be between 1 and 65535")
        }
        var configuration = SMTPConfiguration(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port)
        configuration.implicitTLS = implicitTLS
        switch (components.user, components.password) {
        case (nil, nil):
            break
        case (let user?, let password?) where !user.isEmpty:
            configuration.username = user
            configuration.password = password
        case (let user?, nil) where !user.isEmpty:
            configuration.username = user  // the password comes from a file or the environment
        default:
            throw SMTPError.invalidConfiguration("SMTP URL credentials must be USER@ or USER:PASSWORD@")
        }
        return configuration
    }

    /// This machine's name for EHLO, when it is a usable domain; `localhost` otherwise.
    static func defaultHeloName() -> String {
        let name = ProcessInfo.processInfo.hostName
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
        guard !name.isEmpty, name.count <= 253, name.unicodeScalars.allSatisfy(allowed.contains) else { return "localhost" }
        return name
    }
}
