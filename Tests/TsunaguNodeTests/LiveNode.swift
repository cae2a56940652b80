import Foundation
import NIOCore
import NIOPosix
import TsunaguClient
import TsunaguCore
import TsunaguCrypto
import TsunaguNode
import TsunaguStore

/// A real node on 127.0.0.1 port 0 over a fresh store, with four users:
/// owner (timeline owner), nurse (member), family (viewer) and outsider (not a member).
final class LiveNode: Sendable {
    let directory: String
    let store: HubStore
    /// One node, or several on the same store joined by peer links (`start(nodes:)`).
    let nodes: [NodeServer]
    let ports: [Int]
    var node: NodeServer { nodes[0] }
    var port: Int { ports[0] }
    let group: MultiThreadedEventLoopGroup
    let timeline: TimelineID
    let owner: UserRecord, nurse: UserRecord, family: UserRecord, outsider: UserRecord
    let ownerToken: String, nurseToken: String, familyToken: String, outsiderToken: String
    static let password = "correct horse battery staple"

    static func start(nodes: Int = 1, _ configure: (inout NodeConfiguration) -> Void = { _ in }) async throws -> LiveNode {
        try await LiveNode(nodes: nodes, configure)
    }

    private init(nodes count: Int, _ configure: (inout NodeConfiguration) -> Void) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-node-\(UUID().uuidString)").path
        store = try HubStore(path: directory + "/tsunagu.sqlite", masterKey: MasterKey(key: .random()))
        let hasher = PasswordHasher(parameters: .fastForTests)
        let org = try store.createOrganization(name: "Sakura Clinic")
        let other = try store.createOrganization(name: "Kita Pharmacy")
        owner = try Self.user(store, hasher, "doc@sakura.test", "Dr. Ito", org)
        nurse = try Self.user(store, hasher, "nurse@sakura.test", "Sato Hanako", org)
        family = try Self.user(store, hasher, "family@sakura.test", "Tanaka Family", org)
        outsider = try Self.user(store, hasher, "pharm@kita.test", "Kita Pharmacist", other)
        let (summary, _) = try await store.createTimeline(title: "Patient Tanaka", kind: .patient, creator: owner)
        timeline = summary.id
        _ = try await store.addMember(timeline: timeline, email: nurse.email, role: .member, by: owner)
        _ = try await store.addMember(timeline: timeline, email: family.email, role: .viewer, by: owner)
        ownerToken = try await store.createSession(user: owner, lifetimeSeconds: 3600).token
        nurseToken = try await store.createSession(user: nurse, lifetimeSeconds: 3600).token
        familyToken = try await store.createSession(user: family, lifetimeSeconds: 3600).token
        outsiderToken = try await store.createSession(user: outsider, lifetimeSeconds: 3600).token
        let peerKey = SymmetricKey.random()
        var nodes: [NodeServer] = []
        var ports: [Int] = []
        for index in 0..<count {
            var configuration = NodeConfiguration(nodeID: NodeID(count == 1 ? "n_test" : "n_\(index)"),
                                                  host: "127.0.0.1", port: 0)
            configuration.eventLoopThreads = count == 1 ? 2 : 1
            // Many tests post in bursts as one user; PostRateLimitTests sets the limit it tests.
            configuration.postBurst = 0
            if count > 1 {
                configuration.peerKey = peerKey
                configuration.heartbeatInterval = .milliseconds(200)
                configuration.leaseMillis = 1500
            }
            configure(&configuration)
            let node = NodeServer(configuration: configuration, store: store, passwords: hasher)
            ports.append(try await node.start())
            nodes.append(node)
        }
        self.nodes = nodes
        self.ports = ports
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    private static func user(_ store: HubStore, _ hasher: PasswordHasher, _ email: String, _ name: String,
                             _ org: OrganizationRecord) throws -> UserRecord {
        try store.createUser(organization: org.id, email: email, name: name,
                             passwordHash: hasher.hash(password), role: .member)
    }

    /// The timeline's head after the fixture's setup: owner join, nurse join, family join.
    static let setupHead = 3

    var http: TsunaguHTTPClient { TsunaguHTTPClient(host: "127.0.0.1", port: port, group: group) }

    func connect(compression: Bool = false, node index: Int = 0) async throws -> TsunaguConnection {
        try await TsunaguConnection.connect(host: "127.0.0.1", port: ports[index], offerCompression: compression,
                                            group: group)
    }

    /// Connects and authenticates.
    func session(_ token: String, compression: Bool = false, node index: Int = 0) async throws -> TsunaguConnection {
        let connection = try await connect(compression: compression, node: index)
        // 20 s: with the process tests' nodes and PostgreSQL servers on the same two cores, an
        // auth took longer than the default 5 s (ClusterTests.receiptsAndLogoutCrossNodes).
        let reply = try await connection.request(["type": "auth", "token": .string(token)], timeout: .seconds(20))
        guard reply["type"]?.stringValue == "ok" else { throw TestFailure("auth failed: \(reply)") }
        return connection
    }

    func stop() async {
        for node in nodes { try? await node.shutdown() }
        try? await group.shutdownGracefully()
        // Its connections now, not whenever the last reference goes (LiveNodeGate).
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// The waits below are liveness bounds, not latency checks: 20 s, since at the start of a full
// test run, with every suite starting on two cores, a reply took over 5 s
// (RealtimeProtocolTests.aRetriedPostKeepsItsSeqAndCreatesOneEvent; a ping took 53 s in all).
extension TsunaguConnection {
    func subscribe(_ timeline: TimelineID, since: Int? = nil, timeout: Duration = .seconds(20)) async throws -> JSONObject {
        try await request(["type": "subscribe", "timeline": .string(timeline.rawValue),
                           "since": since.map { .int($0) } ?? .null], timeout: timeout)
    }

    func post(_ timeline: TimelineID, _ body: String, clientMsgID: String = UUID().uuidString) async throws -> JSONObject {
        try await request(["type": "post", "timeline": .string(timeline.rawValue), "body": .string(body),
                           "client_msg_id": .string(clientMsgID)], timeout: .seconds(20))
    }

    /// The next `event` push, skipping receipts.
    func nextEvent(timeout: Duration = .seconds(20)) async throws -> JSONObject {
        while true {
            let push = try await nextPush(timeout: timeout)
            if push["type"]?.stringValue == "event" { return push }
        }
    }

    /// Asserts quietly that nothing arrives within `timeout`.
    func expectSilence(for timeout: Duration = .milliseconds(300)) async throws -> JSONObject? {
        do {
            return try await nextPush(timeout: timeout)
        } catch TsunaguClientError.timeout {
            return nil
        }
    }
}

/// Bounds how many tests run live nodes in this process at once. Each holds listeners, event
/// loops and store connections (about twenty descriptors); a hundred at once took the process
/// past 2,000 descriptors, where Foundation's `Process.run` (which the process-level tests use)
/// crashed. No test nests `withLiveNode`; a test that waited five minutes would go ahead anyway,
/// so a future nesting cannot deadlock the run. Suites using it keep time limits of 5 minutes.
actor LiveNodeGate {
    static let shared = LiveNodeGate()
    private var running = 0
    private let limit = 10

    func enter() async {
        let deadline = ContinuousClock.now + .seconds(300)
        while running >= limit, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        running += 1
    }

    func leave() { running -= 1 }
}

/// Runs `body` against a fresh live node and always stops it, also when `body` throws.
func withLiveNode(nodes: Int = 1, _ configure: (inout NodeConfiguration) -> Void = { _ in },
                  _ body: (LiveNode) async throws -> Void) async throws {
    await LiveNodeGate.shared.enter()
    let live: LiveNode
    do {
        live = try await LiveNode.start(nodes: nodes, configure)
    } catch {
        await LiveNodeGate.shared.leave()
        throw error
    }
    defer { Task { await LiveNodeGate.shared.leave() } }
    do {
        try await body(live)
    } catch {
        await live.stop()
        throw error
    }
    await live.stop()
}
