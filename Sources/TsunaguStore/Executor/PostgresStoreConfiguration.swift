import Foundation

/// Where a PostgreSQL store is: parsed from `postgres://USER@HOST:PORT/DB[?sslmode=…&sslrootcert=…]`
/// (docs/storage.md, "Selecting the store"). The password never comes in the URL: the command line
/// reads it from a file and sets `password`.
public struct PostgresStoreConfiguration: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable {
        /// Plaintext: only for a server on loopback (tests, one-host setups).
        case disable
        /// TLS 1.2 or newer, the server's certificate not checked (encryption against eavesdropping only).
        case require
        /// TLS 1.2 or newer, the certificate checked against the CA (`sslrootcert` or the system's
        /// roots) and the host name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var password: String?
    public var tlsMode: TLSMode
    /// PEM file of the CA that signed the server's certificate (verify-full).
    public var rootCertificatePath: String?

    public init(host: String, port: Int = 5432, user: String, database: String, password: String? = nil,
                tlsMode: TLSMode = .disable, rootCertificatePath: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
        self.password = password
        self.tlsMode = tlsMode
        self.rootCertificatePath = rootCertificatePath
    }

    public struct InvalidURL: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// True when `store` names a PostgreSQL store rather than a SQLite path.
    public static func isPostgresURL(_ store: String) -> Bool {
        store.hasPrefix("postgres://") || store.hasPrefix("postgresql://")
    }

    /// Parses a store URL. The errors say what is wrong without repeating the URL (it could hold
    /// a password).
    public static func parse(_ text: String) throws -> PostgresStoreConfiguration {
        guard isPostgresURL(text), let components = URLComponents(string: text) else {
            throw InvalidURL(description: "not a postgres://USER@HOST:PORT/DB URL")
        }
        if components.password != nil {
            throw InvalidURL(description: "a password in the URL is refused (it would show in the process list and shell history); put it in a file and pass --store-password-file, TSUNAGU_STORE_PASSWORD_FILE or PGPASSFILE")
        }
        guard let user = components.user, !user.isEmpty else { throw InvalidURL(description: "the URL names no USER@") }
        guard let host = components.host, !host.isEmpty else { throw InvalidURL(description: "the URL names no host") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw InvalidURL(description: "the URL names no database (postgres://USER@HOST:PORT/DB)")
        }
        var configuration = PostgresStoreConfiguration(host: host, port: components.port ?? 5432, user: user,
                                                       database: database)
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: item.value ?? "") else {
                    throw InvalidURL(description: "sslmode: one of disable, require, verify-full")
                }
                configuration.tlsMode = mode
            case "sslrootcert":
                configuration.rootCertificatePath = item.value
            default:
                throw InvalidURL(description: "unknown URL parameter \(item.name) (known: sslmode, sslrootcert)")
            }
        }
        return configuration
    }

    /// The password for this server from a libpq password file (`PGPASSFILE`):
    /// lines `host:port:database:user:password`, `*` matching anything, `\:` and `\\` escaped.
    public func password(fromPassFile contents: String) -> String? {
        for line in contents.split(separator: "\n") where !line.hasPrefix("#") {
            var fields: [String] = []
            var field = ""
            var escaped = false
            for character in line {
                if escaped {
                    field.append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ":" && fields.count < 4 {
                    fields.append(field)
                    field = ""
                } else {
                    field.append(character)
                }
            }
            fields.append(field)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }
}
