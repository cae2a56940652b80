import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Delivers each message over its own SMTP session (see `SMTPClientHandler` for why Tsunagu has
/// its own client). One connection per message keeps failure handling trivial; transactional
/// mail volumes (activation links, notices) are far below where connection reuse would matter.
public struct SMTPTransport: MailTransport {
    public let configuration: SMTPConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger

    public init(configuration: SMTPConfiguration, group: any EventLoopGroup,
                logger: Logger = Logger(label: "tsunagu.mail.smtp")) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    public func deliver(_ message: MailMessage) async throws {
        try MailAddress.validate(message.from, field: "sender")
        try MailAddress.validate(message.to, field: "recipient")
        let configuration = self.configuration
        guard Self.isValidHeloName(configuration.heloName) else {
            throw SMTPError.invalidConfiguration("HELO name must be a domain name or address literal")
        }
        let tls = try self.makeTLS()
        let payload = SMTPDotStuffing.payload(for: MailRenderer.render(message, date: Date(), timeZone: .japanStandardTime))
        var settings = SMTPClientStateMachine.Settings(heloName: configuration.heloName)
        settings.useSTARTTLSWhenOffered = configuration.useSTARTTLSWhenOffered
        settings.requireTLS = configuration.requireTLS
        settings.implicitTLS = configuration.implicitTLS
        if let username = configuration.username {
            settings.credentials = (username, configuration.password ?? "")
        }
        let stateMachine = SMTPClientStateMachine(settings: settings, from: message.from, to: message.to)

        var logger = self.logger
        logger[metadataKey: "mail.id"] = "\(message.id)"
        logger[metadataKey: "mail.to.domain"] = "\(MailAddress.domain(of: message.to))"
        let timeout = TimeAmount(configuration.commandTimeout)
        let eventLoop = self.group.next()
        let result = eventLoop.makePromise(of: Void.self)
        let handlerLogger = logger

        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = SMTPClientHandler(stateMachine: stateMachine, payload: payload, tls: tls,
                                                        timeout: timeout, result: result, logger: handlerLogger)
                        if configuration.implicitTLS {
                            // smtps://: the greeting already arrives over TLS (RFC 8314 §3.3).
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname))
                        }
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            let failure = SMTPError.connection("cannot connect to \(configuration.host):\(configuration.port) (\(error))")
            result.fail(failure)  // a no-op if the handler already completed it
            throw failure
        }

        do {
            // Cancelling the caller (the worker's shutdown) closes the connection; the handler then
            // fails the session, and the message stays in the outbox for the next run.
            try await withTaskCancellationHandler {
                try await result.futureResult.get()
            } onCancel: {
                channel.close(promise: nil)
            }
            logger.debug("smtp delivered")
        } catch {
            logger.debug("smtp delivery failed", metadata: ["mail.error": "\(error)"])
            throw error
        }
    }

    private func makeTLS() throws -> SMTPClientHandler.TLS {
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.minimumTLSVersion = .tlsv12  // RFC 8996: no TLS 1.0 or 1.1 to the relay either
        switch self.configuration.tlsTrustRoots {
        case .system: tlsConfiguration.trustRoots = .default
        case .pemFile(let path): tlsConfiguration.trustRoots = .file(path)
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tlsConfiguration)
        } catch {
            throw SMTPError.invalidConfiguration("cannot set up TLS trust roots (\(error))")
        }
        let host = self.configuration.host
        let isIPAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return SMTPClientHandler.TLS(context: context, serverHostname: isIPAddress ? nil : host)
    }

    /// RFC 5321 §4.1.1.1: `EHLO SP ( Domain / address-literal )`. Anything else could smuggle a
    /// second command into the greeting line.
    static func isValidHeloName(_ name: String) -> Bool {
        guard (1...255).contains(name.utf8.count) else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"),
                 UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ":"):
                return true
            default:
                return false
            }
        }
    }
}
