import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguNode

/// Each way a live connection ends, end to end on a real node: the close code the client sees,
/// and that the connection leaves the node's registries (no connection, no subscription left).
/// The slow-consumer and keep-alive endings are covered by SessionStateMachineTests and the
/// WebSocket layer's live tests.
@Suite struct ConnectionEndingTests {
    /// Waits until the node holds no connection and no subscription.
    private func expectEmptied(_ live: LiveNode, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while (live.node.clientCount > 0 || live.node.subscriptionCount > 0) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(live.node.clientCount == 0, sourceLocation: sourceLocation)
        #expect(live.node.subscriptionCount == 0, sourceLocation: sourceLocation)
    }

    private func subscribed(_ live: LiveNode, token: String) async throws -> TsunaguConnection {
        let connection = try await live.session(token)
        #expect(try await connection.subscribe(live.timeline)["type"]?.stringValue == "ok")
        #expect(live.node.subscriptionCount == 1)
        return connection
    }

    @Test func theClientCloses() async throws {
        try await withLiveNode { live in
            let nurse = try await subscribed(live, token: live.nurseToken)
            await nurse.close()
            try await expectEmptied(live)
        }
    }

    @Test func noAuthInTimeCloses4001() async throws {
        try await withLiveNode({ $0.authTimeout = .milliseconds(300) }) { live in
            let silent = try await live.connect()
            #expect(try await silent.waitForClose() == TsunaguCloseCode.authTimeout)
            try await expectEmptied(live)
        }
    }

    @Test func logoutCloses4003() async throws {
        try await withLiveNode { live in
            let nurse = try await subscribed(live, token: live.nurseToken)
            #expect(try await live.http.send("DELETE", "/v1/sessions/current", token: live.nurseToken).status == 204)
            #expect(try await nurse.waitForClose() == TsunaguCloseCode.sessionEnded)
            try await expectEmptied(live)
        }
    }

    @Test func expiryCloses4003() async throws {
        try await withLiveNode { live in
            // Long enough to connect and subscribe (a first subscribe waits for its audit entry)
            // while the rest of the suite loads the machine.
            let short = try await live.store.createSession(user: live.nurse, lifetimeSeconds: 10).token
            let nurse = try await subscribed(live, token: short)
            #expect(try await nurse.waitForClose(timeout: .seconds(20)) == TsunaguCloseCode.sessionEnded)
            try await expectEmptied(live)
        }
    }

    @Test func drainSaysReconnectThenCloses1001() async throws {
        try await withLiveNode({ $0.drainJitterMillis = 1 }) { live in
            let nurse = try await subscribed(live, token: live.nurseToken)
            await live.node.drain()
            #expect(try await nurse.nextPush()["type"]?.stringValue == "reconnect")
            #expect(try await nurse.waitForClose() == 1001)
            try await expectEmptied(live)
        }
    }

    @Test func malformedMessagesCloses1008() async throws {
        try await withLiveNode { live in
            let nurse = try await subscribed(live, token: live.nurseToken)
            for _ in 0...20 { try await nurse.sendText("not json") }
            #expect(try await nurse.waitForClose() == 1008)
            try await expectEmptied(live)
        }
    }
}
