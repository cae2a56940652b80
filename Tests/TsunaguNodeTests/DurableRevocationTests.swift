import Foundation
import NIOPosix
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguStore

/// Issue 11 item 4: revocations reach the sockets on other nodes from the store, within 5 s,
/// when every peer message is lost (`peerDropRate = 1`: the links stand, nothing gets through).
@Suite(.processHeavy) struct DurableRevocationTests {
    private static func withNodesThatHearNothingFromEachOther(_ body: (LiveNode) async throws -> Void) async throws {
        try await withLiveNode(nodes: 2, { $0.peerDropRate = 1.0 }, body)
    }

    @Test func item4LogoutClosesTheSocketOnAnotherNodeWithEveryPeerMessageLost() async throws {
        try await Self.withNodesThatHearNothingFromEachOther { live in
            let family = try await live.session(live.familyToken, node: 1)
            let logout = try await live.http.send("DELETE", "/v1/sessions/current", token: live.familyToken)
            #expect(logout.status == 204)
            #expect(try await family.waitForClose(timeout: .seconds(5)) == TsunaguCloseCode.sessionEnded)
        }
    }

    @Test func item4DisablingAUserClosesTheirSocketOnAnotherNodeWithEveryPeerMessageLost() async throws {
        try await Self.withNodesThatHearNothingFromEachOther { live in
            let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                                  name: "Admin", passwordHash: nil, role: .admin)
            let adminToken = try await live.store.createSession(user: admin, lifetimeSeconds: 3600).token
            let nurse = try await live.session(live.nurseToken, node: 1)
            let disable = try await live.http.send("PATCH", "/v1/admin/users/\(live.nurse.id.rawValue)",
                                                   json: ["disabled": true], token: adminToken)
            #expect(disable.status == 200)
            #expect(try await nurse.waitForClose(timeout: .seconds(5)) == TsunaguCloseCode.sessionEnded)
        }
    }

    /// Item 13's revocations take the same durable path.
    @Test func item4AnAdminEndingAUsersSessionsClosesTheirSocketOnAnotherNodeWithEveryPeerMessageLost() async throws {
        try await Self.withNodesThatHearNothingFromEachOther { live in
            let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                                  name: "Admin", passwordHash: nil, role: .admin)
            let adminToken = try await live.store.createSession(user: admin, lifetimeSeconds: 3600).token
            let nurse = try await live.session(live.nurseToken, node: 1)
            let reply = try await live.http.send("DELETE", "/v1/admin/users/\(live.nurse.id.rawValue)/sessions",
                                                 token: adminToken)
            #expect(reply.status == 200)
            #expect(try await nurse.waitForClose(timeout: .seconds(5)) == TsunaguCloseCode.sessionEnded)
        }
    }

    @Test func item4RemovingAMemberEndsTheirSubscriptionOnAnotherNodeWithEveryPeerMessageLost() async throws {
        try await Self.withNodesThatHearNothingFromEachOther { live in
            let nurse = try await live.session(live.nurseToken, node: 1)
            _ = try await nurse.subscribe(live.timeline)
            let removal = try await live.http.send("DELETE",
                                                   "/v1/timelines/\(live.timeline.rawValue)/members/\(live.nurse.id.rawValue)",
                                                   token: live.ownerToken)
            #expect(removal.status == 204 || removal.status == 200)
            var sawForbidden = false
            for _ in 0..<4 where !sawForbidden {
                let push = try await nurse.nextPush(timeout: .seconds(5))
                sawForbidden = push["type"]?.stringValue == "error" && push["code"]?.stringValue == "forbidden"
            }
            #expect(sawForbidden)
            // The socket stays open (narrowed, not closed): the nurse is still logged in.
            let reply = try await nurse.request(["type": "subscribe", "timeline": .string(live.timeline.rawValue)])
            #expect(reply["code"]?.stringValue == "forbidden")
        }
    }

    /// The same with two `tsunagu serve` processes whose peer links carry nothing
    /// (`--test-drop-peer-messages`): a logout through one closes the socket on the other.
    @Test(.processHeavy, .timeLimit(.minutes(5)))
    func item4LogoutAcrossTwoNodeProcessesWithPeerLinksThatCarryNothing() async throws {
        do {
            let store = try await OperatorStore.make("revocation")
            defer { store.remove() }
            var nodes: [NodeProcess] = []
            defer { for node in nodes { node.kill9() } }
            for index in 0..<2 {
                nodes.append(try await NodeProcess.start(["serve", "--listen", "127.0.0.1:0", "--node-id", "n_\(index)",
                                                          "--test-drop-peer-messages"] + store.common))
            }
            let group = MultiThreadedEventLoopGroup.singleton
            let first = TsunaguHTTPClient(host: "127.0.0.1", port: nodes[0].port, group: group)
            let login = try await first.send("POST", "/v1/sessions",
                                             json: ["email": "b@o.test", "password": "long enough password"])
            let token = try #require(login.json?["token"]?.stringValue)
            let socket = try await TsunaguConnection.connect(host: "127.0.0.1", port: nodes[1].port, group: group)
            let auth = try await socket.request(["type": "auth", "token": .string(token)])
            #expect(auth["type"]?.stringValue == "ok")
            #expect(try await first.send("DELETE", "/v1/sessions/current", token: token).status == 204)
            #expect(try await socket.waitForClose(timeout: .seconds(5)) == TsunaguCloseCode.sessionEnded)
        }
    }

    /// The record is written with the change and followed by id; pruning keeps the newest row so
    /// ids never go back.
    @Test func item4RevocationsAreRecordedWithTheChangeAndPrunedKeepingTheNewest() async throws {
        try await withLiveNode { live in
            let before = try await live.store.latestRevocationID()
            let nurseSession = try await live.store.createSession(user: live.nurse, lifetimeSeconds: 3600).session
            try await live.store.revokeSession(nurseSession.id)
            try await live.store.revokeSession(nurseSession.id)  // already revoked: nothing more recorded
            _ = try await live.store.removeMember(timeline: live.timeline, user: live.family.id, by: live.owner)
            let recorded = try await live.store.revocations(after: before)
            #expect(recorded.map(\.kind) == [.session(nurseSession.id),
                                             .membership(timeline: live.timeline, user: live.family.id)])
            #expect(recorded.map(\.id) == [before + 1, before + 2])
            try await live.store.pruneRevocations(before: Int64.max)
            #expect(try await live.store.latestRevocationID() == before + 2)
            #expect(try await live.store.revocations(after: 0).count == 1)
        }
    }
}
