import Foundation
import NIOCore
import Synchronization
import TsunaguClient

/// A client as a real app behaves: connects through the balancer, subscribes, and after any
/// disconnect (kill, drain) reconnects and resubscribes with `since` = the last seq it holds.
/// It records every seq it received (duplicates included) so the test can check "exactly once
/// after dedupe by seq, in order".
final class ResilientSubscriber: Sendable {
    struct Record: Sendable {
        var received: [Int] = []
        var nodes: [String] = []
        var reconnects = 0
        var outOfOrder = 0
    }

    let timeline: String
    private let host: String
    private let port: Int
    private let token: String
    private let group: any EventLoopGroup
    private let state = Mutex(Record())
    private let stopping = Atomic<Bool>(false)

    init(timeline: String, host: String, port: Int, token: String, group: any EventLoopGroup) {
        self.timeline = timeline
        self.host = host
        self.port = port
        self.token = token
        self.group = group
    }

    var record: Record { state.withLock { $0 } }
    var last: Int? { state.withLock { $0.received.max() } }
    func stop() { stopping.store(true, ordering: .relaxed) }

    /// Connects once and subscribes from the current head; returns the head and the serving node.
    func start() async throws -> (connection: TsunaguConnection, head: Int) {
        let (connection, reply) = try await connectAndSubscribe(since: nil)
        return (connection, reply["head"]?.intValue ?? 0)
    }

    /// Reads events until stopped; reconnects on every disconnect.
    func run(first: TsunaguConnection, head: Int) async {
        var connection: TsunaguConnection? = first
        var since = head
        while !stopping.load(ordering: .relaxed) {
            if connection == nil {
                try? await Task.sleep(for: .milliseconds(Int.random(in: 50...300)))
                guard let (fresh, _) = try? await connectAndSubscribe(since: since) else { continue }
                state.withLock { $0.reconnects += 1 }
                connection = fresh
            }
            do {
                let push = try await connection!.nextPush(timeout: .milliseconds(500))
                guard push["type"]?.stringValue == "event", let seq = push["seq"]?.intValue else { continue }
                state.withLock { record in
                    if let previous = record.received.max(), seq > previous + 1 { record.outOfOrder += 1 }
                    record.received.append(seq)
                }
                since = max(since, seq)
            } catch TsunaguClientError.timeout {
                continue
            } catch {
                connection = nil
            }
        }
        await connection?.close()
    }

    private func connectAndSubscribe(since: Int?) async throws -> (TsunaguConnection, JSONObject) {
        let connection = try await TsunaguConnection.connect(host: host, port: port, group: group)
        let auth = try await connection.request(["type": "auth", "token": .string(token)])
        guard let node = auth["node"]?.stringValue else { throw TestFailure("auth failed") }
        state.withLock { $0.nodes.append(node) }
        let reply = try await connection.request(["type": "subscribe", "timeline": .string(timeline),
                                                  "since": since.map { .int($0) } ?? .null])
        guard reply["type"]?.stringValue == "ok" else { throw TestFailure("subscribe failed") }
        return (connection, reply)
    }
}
