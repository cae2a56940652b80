import Foundation
import Testing
import TsunaguCore
import TsunaguCrypto
@testable import TsunaguStore

/// Several nodes (several `HubStore`s, each with its own connections and group committer) writing
/// one PostgreSQL database at once: the invariants that SQLite's single write lock gave for free
/// must hold through row locks and advisory locks (docs/storage.md, "What is serialized how").
@Suite(.serialized) struct PostgresConcurrencyTests {
    @Test func severalNodesPostingToOneTimelineGetGaplessOrderedIdempotentSeqs() async throws {
        let f = try await StoreFixture.make(.postgres)
        defer { f.remove() }
        let nodes = [f.store, try f.reopen(), try f.reopen()]
        let (timeline, _) = try await f.store.createTimeline(title: "Ward 3", kind: .group, creator: f.owner)
        let ids = (0..<60).map { _ in UUID().uuidString.lowercased() }
        let owner = f.owner
        // Every message is posted twice, on two different nodes, at once: a client retrying elsewhere.
        let results = try await withThrowingTaskGroup(of: (String, TimelineEvent, Bool).self) { group in
            for (i, id) in ids.enumerated() {
                for attempt in 0..<2 {
                    let node = nodes[(i + attempt) % nodes.count]
                    group.addTask {
                        let (event, created) = try await node.post(timeline: timeline.id, author: owner, body: "m\(i)",
                                                                   clientMsgID: id)
                        return (id, event, created)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 120)
        #expect(results.filter(\.2).count == 60, "each client_msg_id creates exactly one event")
        for id in ids {
            let pair = results.filter { $0.0 == id }
            #expect(pair.count == 2 && pair[0].1 == pair[1].1, "a retry on another node answers the first event")
        }
        let (stored, head) = try await nodes[2].history(timeline: timeline.id, user: f.owner.id, after: 0, limit: 1000)
        #expect(head == 61)
        #expect(stored.map(\.seq) == Array(1...61), "gapless and ordered")
        #expect(Set(results.map(\.1.seq)) == Set(2...61))
    }

    @Test func theAuditChainVerifiesAfterConcurrentWritersOnSeveralNodes() async throws {
        let f = try await StoreFixture.make(.postgres)
        defer { f.remove() }
        let nodes = [f.store, try f.reopen(), try f.reopen()]
        let organization = f.organization.id
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (n, node) in nodes.enumerated() {
                for i in 0..<30 {
                    group.addTask {
                        try await node.audit(AuditRecord(organization: organization, actor: nil, action: "member.add",
                                                         target: "t_\(n)_\(i)", source: "cli", node: "n\(n)",
                                                         details: "detail \(i)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        let result = try await nodes[1].verifyAuditChain()
        #expect(result.brokenAt == nil)
        #expect(result.checked == 90)
    }

    @Test func loginReservationsOnSeveralNodesNeverExceedTheLimit() async throws {
        let f = try await StoreFixture.make(.postgres)
        defer { f.remove() }
        let nodes = [f.store, try f.reopen(), try f.reopen()]
        let policy = {
            var policy = LoginThrottlePolicy()
            policy.accountFailures = 5
            return policy
        }()
        let answers = try await withThrowingTaskGroup(of: LoginReservation.self) { group in
            for i in 0..<30 {
                let node = nodes[i % nodes.count]
                group.addTask {
                    try await node.reserveLoginAttempt(email: "nurse@sakura.test", source: "10.0.0.\(i)", policy: policy)
                }
            }
            return try await group.reduce(into: [LoginReservation]()) { $0.append($1) }
        }
        let reserved = answers.filter { if case .reserved = $0 { true } else { false } }
        #expect(reserved.count == 5)
        #expect(reserved.filter { $0 == .reserved(locks: true) }.count == 1)
    }

    @Test func registryHeartbeatsUseTheDatabaseClock() async throws {
        let f = try await StoreFixture.make(.postgres)
        defer { f.remove() }
        let clock = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
        let before = Int64(try f.raw(clock) ?? "") ?? .max
        try await f.store.registerNode(id: NodeID("n_clock"), host: "127.0.0.1", port: 1, pid: nil)
        let after = Int64(try f.raw(clock) ?? "") ?? 0
        let (now, nodes) = try await f.store.nodesWithDatabaseTime()
        let stamped = try #require(nodes.first?.heartbeatAtMillis)
        #expect(before <= stamped && stamped <= after, "stamped by the database within the call")
        #expect(now >= after, "leases are judged by the database's clock")
    }

    @Test func storeURLsParseAndAPasswordInTheURLIsRefused() throws {
        let parsed = try PostgresStoreConfiguration.parse(
            "postgres://tsunagu@db.example:6432/hub?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(parsed == PostgresStoreConfiguration(host: "db.example", port: 6432, user: "tsunagu", database: "hub",
                                                     tlsMode: .verifyFull, rootCertificatePath: "/etc/ca.pem"))
        #expect(throws: PostgresStoreConfiguration.InvalidURL.self) {
            try PostgresStoreConfiguration.parse("postgres://tsunagu:secret@db.example/hub")
        }
        #expect(throws: PostgresStoreConfiguration.InvalidURL.self) {
            try PostgresStoreConfiguration.parse("postgres://tsunagu@db.example/hub?sslmode=prefer")
        }
        let passfile = "# comment\nother:5432:*:*:nope\ndb.example:6432:hub:tsunagu:pa\\:ss\n"
        #expect(parsed.password(fromPassFile: passfile) == "pa:ss")
    }

    @Test func aNotificationPayloadNamesRangesAndStaysUnderTheLimit() {
        let appended = (1...5).map { (timeline: "tl_a", seq: Int64($0)) } + [(timeline: "tl_b", seq: 9)]
        #expect(CommitNotice.payloads(appended) == ["tl_a:1-5,tl_b:9-9"])
        #expect(CommitNotice.parse("tl_a:1-5,tl_b:9-9,junk") == [.init(timeline: "tl_a", first: 1, last: 5),
                                                                .init(timeline: "tl_b", first: 9, last: 9)])
        let many = (0..<2_000).map { (timeline: "tl_\($0)_padding_padding", seq: Int64(1)) }
        let payloads = CommitNotice.payloads(many)
        #expect(payloads.count > 1 && payloads.allSatisfy { $0.utf8.count <= 7_000 })
        #expect(payloads.flatMap(CommitNotice.parse).count == 2_000)
    }
}
