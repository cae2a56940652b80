// Tsunagu's SMTP client is written here on SwiftNIO because no Swift SMTP library is available
// to this project. It is deliberately small: one message per connection, one command at a time,
// STARTTLS through swift-nio-ssl, AUTH PLAIN only over TLS. The protocol logic lives in the pure
// `SMTPClientStateMachine` and `SMTPReplyParser`; this handler only moves bytes and timers.

import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Runs one SMTP session on a connected channel and completes `result` once the server accepted
/// the message (or with the `SMTPError` that stopped it).
///
/// Pipeline: `[NIOSSLClientHandler (inserted after STARTTLS, or first for smtps://)] → SMTPClientHandler`. The handler
/// reads raw bytes rather than sitting behind a `ByteToMessageDecoder`, so that it can see
/// plaintext buffered behind the `220` to STARTTLS and refuse it (RFC 3207 §5 warns that nothing
/// learned before TLS may be trusted; such bytes are an injection attempt).
final class SMTPClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct TLS {
        var context: NIOSSLContext
        /// SNI and certificate name; nil for an IP address, which NIOSSL then checks against the
        /// certificate's IP SANs (SNI may not carry an IP, RFC 6066 §3).
        var serverHostname: String?
    }

    private var stateMachine: SMTPClientStateMachine
    private var parser = SMTPReplyParser()
    private let payload: ByteBuffer
    private let tls: TLS
    private let timeout: TimeAmount
    private let result: EventLoopPromise<Void>
    private var resultReported = false
    private var timer: Scheduled<Void>?
    private var logger: Logger

    init(stateMachine: SMTPClientStateMachine, payload: ByteBuffer, tls: TLS, timeout: TimeAmount,
         result: EventLoopPromise<Void>, logger: Logger) {
        self.stateMachine = stateMachine
        self.payload = payload
        self.tls = tls
        self.timeout = timeout
        self.result = result
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        self.armTimer(context: context)  // for the greeting
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.parser.append(self.unwrapInboundIn(data))
        do {
            while self.stateMachine.state != .tlsHandshake, let reply = try self.parser.nextReply() {
                self.cancelTimer()
                self.logger.trace("smtp reply", metadata: ["smtp.stage": "\(self.stateMachine.stage)", "smtp.code": "\(reply.code)"])
                self.perform(self.stateMachine.receivedReply(reply), context: context)
            }
        } catch {
            self.perform(self.stateMachine.connectionFailed("malformed reply (\(error))"), context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // After STARTTLS only: with implicit TLS (smtps://) the greeting's timer keeps running.
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event, self.stateMachine.state == .tlsHandshake {
            self.cancelTimer()
            self.logger.debug("smtp STARTTLS handshake completed")
            self.perform(self.stateMachine.tlsEstablished(), context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // TLS failures (untrusted certificate, wrong name) arrive here from NIOSSLClientHandler.
        self.perform(self.stateMachine.connectionFailed(String(describing: error)), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelTimer()
        self.perform(self.stateMachine.connectionFailed("connection closed"), context: context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimer()
        // Never leave the caller waiting, whatever tore the pipeline down.
        self.report(.failure(.connection("SMTP session ended at \(self.stateMachine.stage)")))
    }

    // MARK: - Actions

    private func perform(_ action: SMTPClientStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .send(let command):
            self.write(command, context: context)
            self.armTimer(context: context)
        case .sendMessageBody:
            context.writeAndFlush(self.wrapOutboundOut(self.payload), promise: nil)
            self.armTimer(context: context)
        case .startTLS:
            self.startTLS(context: context)
        case .succeed(let command):
            self.report(.success(()))
            self.write(command, context: context)
            self.armTimer(context: context)
        case .fail(let error, let quit):
            self.cancelTimer()
            self.logger.debug("smtp session failed", metadata: ["smtp.stage": "\(self.stateMachine.stage)", "smtp.error": "\(error)"])
            self.report(.failure(error))
            if quit {
                var buffer = context.channel.allocator.buffer(capacity: 6)
                buffer.writeStaticString("QUIT\r\n")
                context.writeAndFlush(self.wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            } else {
                context.close(promise: nil)
            }
        case .close:
            self.cancelTimer()
            context.close(promise: nil)
        }
    }

    private func startTLS(context: ChannelHandlerContext) {
        guard !self.parser.hasBufferedBytes else {
            self.perform(self.stateMachine.connectionFailed("plaintext received after the STARTTLS reply"), context: context)
            return
        }
        do {
            let handler = try NIOSSLClientHandler(context: self.tls.context, serverHostname: self.tls.serverHostname)
            // In front of this handler: from now on every byte in either direction is encrypted.
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
            self.armTimer(context: context)  // for the handshake
        } catch {
            self.perform(self.stateMachine.connectionFailed("TLS setup failed (\(error))"), context: context)
        }
    }

    private func write(_ command: String, context: ChannelHandlerContext) {
        // Commands carry addresses and credentials: they are never logged.
        var buffer = context.channel.allocator.buffer(capacity: command.utf8.count + 2)
        buffer.writeString(command)
        buffer.writeStaticString("\r\n")
        context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
    }

    private func report(_ outcome: Result<Void, SMTPError>) {
        guard !self.resultReported else { return }
        self.resultReported = true
        self.result.completeWith(outcome.mapError { $0 as Error })
    }

    private func armTimer(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: self.timeout) {
            self.timer = nil
            self.perform(self.stateMachine.timedOut(), context: context)
        }
    }

    private func cancelTimer() {
        self.timer?.cancel()
        self.timer = nil
    }
}
