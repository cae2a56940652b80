import Foundation
import NIOCore
import NIOPosix
import Testing
import TsunaguBalancer
import TsunaguClient
import TsunaguCore
import TsunaguNode
import TsunaguStore

/// Issue item "real client addresses": the balancer names the client in a PROXY v2 header, nodes
/// believe it only from `--trusted-proxy` addresses, and throttles and audit use it
/// (docs/security.md, "Client addresses").
@Suite(.serialized, .timeLimit(.minutes(5)))
struct RealClientAddressTests {
    /// 21 failed logins from one client address through the balancer lock that address only: a
    /// client at another address logs in, and the audit log records the real addresses.
    @Test func failedLoginsThroughTheBalancerLockOnlyTheirOwnClientAddress() async throws {
        try await withLiveNode { live in
            let balancer = BalancerServer(
                configuration: BalancerConfiguration(host: "127.0.0.1", port: 0),
                directory: StaticBackendDirectory([Backend(id: "n_test", host: "127.0.0.1", port: live.port)]))
            let port = try await balancer.start()
            do {
                for _ in 0..<50 where balancer.readyBackends.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
                #expect(!balancer.readyBackends.isEmpty)
                // The attacker at 127.0.0.2 tries 21 addresses (each under the per-account limit;
                // the first is a real account, so that its failure is in the clinic's audit log).
                for attempt in 0..<21 {
                    let email = attempt == 0 ? "family@sakura.test" : "nobody\(attempt)@sakura.test"
                    let reply = try await RawHTTP.login(port: port, from: "127.0.0.2",
                                                        email: email, password: "wrong password!")
                    #expect(reply.status == (attempt < 20 ? 401 : 429), "attempt \(attempt)")
                }
                // The attacker's address is locked, even with a right password ...
                let attacker = try await RawHTTP.login(port: port, from: "127.0.0.2", email: "nurse@sakura.test",
                                                       password: LiveNode.password)
                #expect(attacker.status == 429)
                // ... and the nurse at 127.0.0.3, behind the same balancer, is not.
                let nurse = try await RawHTTP.login(port: port, from: "127.0.0.3", email: "nurse@sakura.test",
                                                    password: LiveNode.password)
                #expect(nurse.status == 201)
                let entries = try await live.store.auditEntries(organization: live.nurse.organization, fromMillis: 0,
                                                                toMillis: .max, limit: 100)
                let success = entries.filter { $0.record.action == "login.success" }
                #expect(success.map(\.record.source) == ["127.0.0.3"])
                #expect(entries.contains { $0.record.action == "login.failure" && $0.record.source == "127.0.0.2" })
                #expect(!entries.contains { $0.record.source == "127.0.0.1" })
            } catch {
                try? await balancer.shutdown()
                throw error
            }
            try await balancer.shutdown()
        }
    }

    /// Hand-written headers from loopback (trusted by default) simulate two distant clients;
    /// the header may come in pieces and carry TLVs, which are skipped.
    @Test func aTrustedProxysHeaderNamesTheSourceForThrottleAndAudit() async throws {
        try await withLiveNode { live in
            let far = ProxyHeader.Address(bytes: [198, 51, 100, 20], port: 40_000)
            for attempt in 0..<20 {
                let email = attempt == 0 ? "family@sakura.test" : "x\(attempt)@sakura.test"
                let reply = try await RawHTTP.login(port: live.port, header: Self.header(from: far),
                                                    email: email, password: "wrong password!")
                #expect(reply.status == 401)
            }
            let locked = try await RawHTTP.login(port: live.port, header: Self.header(from: far),
                                                 email: "nurse@sakura.test", password: LiveNode.password)
            #expect(locked.status == 429)
            // Another client, IPv6, its header split across three writes with 40 bytes of TLVs.
            let other = ProxyHeader.Address(bytes: [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [9], port: 1)
            var header = Self.header(from: other)
            let tlvs: [UInt8] = [0x04, 0x00, 0x25] + Array(repeating: 0x41, count: 37)
            header[14...15] = [0x00, UInt8(36 + tlvs.count)]
            header += tlvs
            let ok = try await RawHTTP.login(port: live.port, header: header, email: "nurse@sakura.test",
                                             password: LiveNode.password, split: [10, 30])
            #expect(ok.status == 201)
            // A trusted connection without a header keeps its socket address.
            let plain = try await RawHTTP.login(port: live.port, email: "doc@sakura.test", password: LiveNode.password)
            #expect(plain.status == 201)
            let entries = try await live.store.auditEntries(organization: live.nurse.organization, fromMillis: 0,
                                                            toMillis: .max, limit: 100)
            #expect(entries.filter { $0.record.action == "login.success" }.map(\.record.source)
                == ["2001:db8::9", "127.0.0.1"])
            #expect(entries.contains { $0.record.action == "login.failure" && $0.record.source == "198.51.100.20" })
        }
    }

    /// A PROXY header from an address outside `--trusted-proxy` is refused: the connection is
    /// closed unanswered. The same address without a header is served under its own address.
    @Test func aProxyHeaderFromAnUntrustedAddressIsRefused() async throws {
        try await withLiveNode({ $0.trustedProxies = [CIDR("10.0.0.0/8")!] }) { live in
            let spoof = ProxyHeader.Address(bytes: [192, 0, 2, 1], port: 5)
            let refused = try await RawHTTP.login(port: live.port, header: Self.header(from: spoof),
                                                  email: "nurse@sakura.test", password: LiveNode.password)
            #expect(refused.status == 0)
            #expect(refused.raw.isEmpty)
            // Even split so that the signature arrives in pieces.
            let split = try await RawHTTP.login(port: live.port, header: Self.header(from: spoof),
                                                email: "nurse@sakura.test", password: LiveNode.password, split: [5])
            #expect(split.raw.isEmpty)
            let plain = try await RawHTTP.login(port: live.port, email: "nurse@sakura.test", password: LiveNode.password)
            #expect(plain.status == 201)
            let entries = try await live.store.auditEntries(organization: live.nurse.organization, fromMillis: 0,
                                                            toMillis: .max, limit: 100)
            #expect(entries.map(\.record.source) == ["127.0.0.1"])
        }
    }

    private static func header(from source: ProxyHeader.Address) -> [UInt8] {
        let destination = ProxyHeader.Address(bytes: source.bytes.count == 4 ? [127, 0, 0, 1] : Array(repeating: 0, count: 15) + [1],
                                              port: 443)
        return ProxyHeader(command: .proxy, source: source, destination: destination).encoded()
    }
}

/// HTTP/1.1 by hand over one TCP connection: a chosen local address, a PROXY header first.
enum RawHTTP {
    struct Reply {
        var raw: [UInt8]
        /// 0 when the connection closed without an answer.
        var status: Int {
            let line = String(decoding: raw.prefix(12), as: UTF8.self)
            guard line.hasPrefix("HTTP/1.1 ") else { return 0 }
            return Int(line.dropFirst(9).prefix(3)) ?? 0
        }
    }

    static func login(port: Int, from local: String? = nil, header: [UInt8] = [], email: String, password: String,
                      split: [Int] = []) async throws -> Reply {
        var body = JSONWriter()
        body.beginObject()
        body.field("email", email)
        body.field("password", password)
        body.endObject()
        let head = "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.bytes.count)\r\nConnection: close\r\n\r\n"
        let bytes = header + Array(head.utf8) + body.bytes
        var chunks: [[UInt8]] = []
        var start = 0
        for cut in split + [bytes.count] {
            chunks.append(Array(bytes[start..<cut]))
            start = cut
        }
        return Reply(raw: try await exchange(port: port, from: local, chunks))
    }

    /// Writes the chunks 20 ms apart and reads until the node closes.
    static func exchange(port: Int, from local: String?, _ chunks: [[UInt8]]) async throws -> [UInt8] {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let local { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: local, port: 0)) }
        let channel = try await bootstrap.connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        return try await channel.executeThenClose { inbound, outbound in
            for (index, chunk) in chunks.enumerated() {
                if index > 0 { try await Task.sleep(for: .milliseconds(20)) }
                do {
                    try await outbound.write(ByteBuffer(bytes: chunk))
                } catch {
                    break  // closed by the node
                }
            }
            var received: [UInt8] = []
            do {
                for try await buffer in inbound { received += buffer.readableBytesView }
            } catch {
                // a reset after the node closed: what arrived is the answer
            }
            return received
        }
    }
}
