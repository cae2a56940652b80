import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// Issue 11 item 13: the idle timeout per organization, a user's own sessions (list, end one,
/// end all others or all), an admin ending every session of a user, and hashes upgraded at login.
@Suite struct SessionManagementTests {
    private static func admin(_ live: LiveNode) async throws -> (user: UserRecord, token: String) {
        let admin = try live.store.createUser(organization: live.owner.organization, email: "admin@sakura.test",
                                              name: "Admin", passwordHash: nil, role: .admin)
        return (admin, try await live.store.createSession(user: admin, lifetimeSeconds: 3600).token)
    }

    /// Changes the store behind the node's back, as time passing would (python3's sqlite3; the
    /// node reads through WAL and sees it at its next read).
    private static func sql(_ live: LiveNode, _ statement: String, _ arguments: [String]) async throws {
        let result = try await Tool.run("/usr/bin/env", ["python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2], sys.argv[3:]); c.commit()",
            live.store.databasePath, statement] + arguments)
        guard result.status == 0 else { throw TestFailure("sqlite3: \(result.output)") }
    }

    private static func sessionID(_ live: LiveNode, _ token: String) async throws -> SessionID {
        try #require(try await live.store.session(token: token)).id
    }

    private static func setLastSeen(_ live: LiveNode, _ token: String, _ millis: Int64) async throws {
        let id = try await sessionID(live, token)
        try await sql(live, "UPDATE sessions SET last_seen_at = ? WHERE id = ?", [String(millis), id.rawValue])
    }

    private static func lastSeen(_ live: LiveNode, _ user: UserRecord, _ session: SessionID) async throws -> Int64? {
        try await live.store.sessions(of: user.id).first { $0.id == session }?.lastSeenMillis
    }

    private static func login(_ live: LiveNode, _ email: String, agent: String) async throws -> String {
        let reply = try await live.http.send("POST", "/v1/sessions",
                                             json: ["email": .string(email), "password": .string(LiveNode.password)],
                                             headers: [("User-Agent", agent)])
        guard reply.status == 201, let token = reply.json?["token"]?.stringValue else {
            throw TestFailure("login failed: \(reply.status)")
        }
        return token
    }

    @Test func item13ASessionUnusedLongerThanTheOrganizationsIdleTimeoutEnds() async throws {
        try await withLiveNode { live in
            let (_, adminToken) = try await Self.admin(live)
            let initial = try await live.http.send("GET", "/v1/admin/organization", token: adminToken)
            #expect(initial.json?["session_idle_minutes"]?.intValue == 60)
            let patch = try await live.http.send("PATCH", "/v1/admin/organization", json: ["session_idle_minutes": 5],
                                                 token: adminToken)
            #expect(patch.status == 200)
            #expect(patch.json?["session_idle_minutes"]?.intValue == 5)
            #expect(try await live.http.send("PATCH", "/v1/admin/organization", json: ["session_idle_minutes": 1],
                                             token: adminToken).status == 400)
            let now = WireTime.nowMillis()
            let familySession = try await Self.sessionID(live, live.familyToken)
            let ownerSession = try await Self.sessionID(live, live.ownerToken)
            try await Self.setLastSeen(live, live.nurseToken, now - 6 * 60_000)
            try await Self.setLastSeen(live, live.familyToken, now - 4 * 60_000)
            #expect(try await live.http.send("GET", "/v1/me", token: live.nurseToken).status == 401)
            let nurse = try await live.connect()
            let refused = try await nurse.request(["type": "auth", "token": .string(live.nurseToken)])
            #expect(refused["code"]?.stringValue == "unauthenticated")
            // Used four minutes ago: still live, and this use is written down...
            #expect(try await live.http.send("GET", "/v1/me", token: live.familyToken).status == 200)
            var written: Int64?
            for _ in 0..<50 {
                written = try await Self.lastSeen(live, live.family, familySession)
                if let written, written >= now { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try #require(written) >= now)
            // ...but a use within a minute of the last one is not (one write a minute per session).
            let recent = WireTime.nowMillis() - 30_000
            try await Self.setLastSeen(live, live.ownerToken, recent)
            #expect(try await live.http.send("GET", "/v1/me", token: live.ownerToken).status == 200)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await Self.lastSeen(live, live.owner, ownerSession) == recent)
        }
    }

    /// A socket that only receives uses nothing; the sweep ends it once its session is idle.
    @Test func item13ASocketOfASessionThatWentIdleIsClosed() async throws {
        try await withLiveNode({ $0.idleSessionSweepInterval = .milliseconds(200) }) { live in
            try await live.store.setSessionIdleMinutes(live.owner.organization, 5)
            let nurse = try await live.session(live.nurseToken)
            let family = try await live.session(live.familyToken)
            try await Self.setLastSeen(live, live.nurseToken, WireTime.nowMillis() - 6 * 60_000)
            #expect(try await nurse.waitForClose(timeout: .seconds(5)) == TsunaguCloseCode.sessionEnded)
            // A session in use keeps its socket.
            let reply = try await family.request(["type": "subscribe", "timeline": .string(live.timeline.rawValue)])
            #expect(reply["type"]?.stringValue == "ok")
        }
    }

    @Test func item13AUserListsTheirSessionsWithoutTokensAndEndsOneOthersOrAll() async throws {
        try await withLiveNode { live in
            let first = try await Self.login(live, live.nurse.email, agent: "TestBrowser/1")
            let second = try await Self.login(live, live.nurse.email, agent: "TestBrowser/2")
            let listing = try await live.http.send("GET", "/v1/me/sessions", token: first)
            #expect(listing.status == 200)
            let text = String(decoding: listing.body, as: UTF8.self)
            for token in [first, second, live.nurseToken] { #expect(!text.contains(token)) }
            let sessions = (listing.json?["sessions"]?.arrayValue ?? []).compactMap { $0.objectValue }
            #expect(sessions.count == 3)
            #expect(sessions.filter { $0["current"]?.boolValue == true }.count == 1)
            let current = try #require(sessions.first { $0["current"]?.boolValue == true })
            #expect(current["user_agent"]?.stringValue == "TestBrowser/1")
            #expect(current["source"]?.stringValue == "127.0.0.1")
            #expect(current["created_at"]?.stringValue != nil && current["last_seen_at"]?.stringValue != nil)
            let secondID = try #require(sessions.first { $0["user_agent"]?.stringValue == "TestBrowser/2" }?["id"]?.stringValue)

            // Ending one session closes its socket.
            let socket = try await live.session(second)
            #expect(try await live.http.send("DELETE", "/v1/me/sessions/\(secondID)", token: first).status == 204)
            #expect(try await socket.waitForClose() == TsunaguCloseCode.sessionEnded)
            #expect(try await live.http.send("GET", "/v1/me", token: second).status == 401)
            // Another user's session is not the caller's to end, and is answered like none.
            let ownerSession = try #require(try await live.store.session(token: live.ownerToken)).id
            #expect(try await live.http.send("DELETE", "/v1/me/sessions/\(ownerSession.rawValue)", token: first).status == 404)
            #expect(try await live.http.send("GET", "/v1/me", token: live.ownerToken).status == 200)

            // All others: the fixture's session ends, the caller's stays.
            let others = try await live.http.send("DELETE", "/v1/me/sessions?keep=current", token: first)
            #expect(others.json?["ended"]?.intValue == 1)
            #expect(try await live.http.send("GET", "/v1/me", token: live.nurseToken).status == 401)
            #expect(try await live.http.send("GET", "/v1/me", token: first).status == 200)
            // All.
            let all = try await live.http.send("DELETE", "/v1/me/sessions", token: first)
            #expect(all.json?["ended"]?.intValue == 1)
            #expect(try await live.http.send("GET", "/v1/me", token: first).status == 401)

            let actions = try await live.store.auditEntries(organization: live.nurse.organization, fromMillis: 0,
                                                            toMillis: .max, limit: 1000).map(\.record.action)
            for action in ["session.revoke", "session.revoke-others", "session.revoke-all"] {
                #expect(actions.contains(action), "\(action)")
            }
        }
    }

    @Test func item13AnAdminEndsEverySessionOfAUserOfTheirOrganizationOnly() async throws {
        try await withLiveNode { live in
            let (_, adminToken) = try await Self.admin(live)
            let nurse = try await live.session(live.nurseToken)
            #expect(try await live.http.send("DELETE", "/v1/admin/users/\(live.nurse.id.rawValue)/sessions",
                                             token: live.ownerToken).status == 403)
            let other = try live.store.createUser(organization: live.outsider.organization, email: "admin@kita.test",
                                                  name: "Kita Admin", passwordHash: nil, role: .admin)
            let otherToken = try await live.store.createSession(user: other, lifetimeSeconds: 3600).token
            #expect(try await live.http.send("DELETE", "/v1/admin/users/\(live.nurse.id.rawValue)/sessions",
                                             token: otherToken).status == 404)
            let reply = try await live.http.send("DELETE", "/v1/admin/users/\(live.nurse.id.rawValue)/sessions",
                                                 token: adminToken)
            #expect(reply.status == 200)
            #expect(reply.json?["ended"]?.intValue == 1)
            #expect(try await nurse.waitForClose() == TsunaguCloseCode.sessionEnded)
            #expect(try await live.http.send("GET", "/v1/me", token: live.nurseToken).status == 401)
        }
    }

    @Test func item13ALoginUpgradesAHashMadeWithWeakerParameters() async throws {
        try await withLiveNode { live in
            let weak = PasswordHasher(parameters: .init(logN: 4, r: 8, p: 1)).hash(LiveNode.password)
            let node = PasswordHasher(parameters: .fastForTests)
            #expect(node.needsRehash(weak))
            try await Self.sql(live, "UPDATE users SET password_hash = ? WHERE id = ?", [weak, live.nurse.id.rawValue])
            _ = try await Self.login(live, live.nurse.email, agent: "TestBrowser/1")
            let stored = try #require(try await live.store.userForLogin(email: live.nurse.email)?.passwordHash)
            #expect(stored != weak)
            #expect(!node.needsRehash(stored))
            #expect(node.verify(LiveNode.password, against: stored))
            _ = try await Self.login(live, live.nurse.email, agent: "TestBrowser/1")
        }
    }
}
