import Foundation
import Testing
import TsunaguClient
import TsunaguCore

/// Every operation checks membership and role; a non-member learns nothing of a timeline.
@Suite struct AccessControlTests {
    @Test func aNonMemberIsForbiddenEverythingAndSeesNoContent() async throws {
        try await withLiveNode { live in
            let doctor = try await live.session(live.ownerToken)
            _ = try await doctor.post(live.timeline, "secret clinical note")
            let outsider = try await live.session(live.outsiderToken)
            let tl = JSONValue.string(live.timeline.rawValue)
            let requests: [JSONObject] = [
                ["type": "subscribe", "timeline": tl, "since": 0],
                ["type": "post", "timeline": tl, "body": "x", "client_msg_id": .string(UUID().uuidString)],
                ["type": "react", "timeline": tl, "target_seq": 4, "reaction": "ack", "op": "add"],
                ["type": "read", "timeline": tl, "seq": 1],
                ["type": "call", "timeline": tl, "call_id": .string(UUID().uuidString), "op": "start"],
                ["type": "unsubscribe", "timeline": tl],
            ]
            for request in requests {
                let reply = try await outsider.request(request)
                #expect(reply["type"]?.stringValue == "error", "\(request)")
                #expect(reply["code"]?.stringValue == "forbidden", "\(request)")
                #expect(!reply.description.contains("secret"))
            }
            #expect(try await outsider.expectSilence() == nil)
            let history = try await live.http.send("GET", "/v1/timelines/\(live.timeline.rawValue)/events",
                                                   token: live.outsiderToken)
            #expect(history.status == 403)
            #expect(history.json?["code"]?.stringValue == "forbidden")
            #expect(!history.text.contains("secret"))
            // a timeline that does not exist answers the same way
            let unknown = try await outsider.subscribe(TimelineID.random())
            #expect(unknown["code"]?.stringValue == "forbidden")
        }
    }

    @Test func aViewerMayNotPostOrStartCalls() async throws {
        try await withLiveNode { live in
            let family = try await live.session(live.familyToken)
            let post = try await family.post(live.timeline, "hello")
            #expect(post["code"]?.stringValue == "forbidden")
            let call = try await family.request(["type": "call", "timeline": .string(live.timeline.rawValue),
                                                 "call_id": .string(UUID().uuidString), "op": "start"])
            #expect(call["code"]?.stringValue == "forbidden")
        }
    }

    @Test func requestsBeforeAuthAreUnauthenticated() async throws {
        try await withLiveNode { live in
            let connection = try await live.connect()
            let reply = try await connection.subscribe(live.timeline)
            #expect(reply["code"]?.stringValue == "unauthenticated")
            let bad = try await connection.request(["type": "auth", "token": "not-a-token"])
            #expect(bad["code"]?.stringValue == "unauthenticated")
            let good = try await connection.request(["type": "auth", "token": .string(live.nurseToken)])
            #expect(good["user"]?["id"]?.stringValue == live.nurse.id.rawValue)
            #expect(good["user"]?["org"]?.stringValue == live.nurse.organization.rawValue)
            #expect(good["node"]?.stringValue == "n_test")
        }
    }

    @Test func aRemovedMembersSubscriptionEndsWithForbidden() async throws {
        try await withLiveNode { live in
            let nurse = try await live.session(live.nurseToken)
            _ = try await nurse.subscribe(live.timeline)
            let removed = try await live.http.send("DELETE", "/v1/timelines/\(live.timeline.rawValue)/members/\(live.nurse.id.rawValue)",
                                                   token: live.ownerToken)
            #expect(removed.status == 204)
            let leave = try await nurse.nextEvent()
            #expect(leave["kind"]?.stringValue == "member")
            #expect(leave["op"]?.stringValue == "leave")
            let end = try await nurse.nextPush()
            #expect(end["type"]?.stringValue == "error")
            #expect(end["code"]?.stringValue == "forbidden")
            #expect(end["timeline"]?.stringValue == live.timeline.rawValue)
            // nothing more arrives, and posting is refused
            let doctor = try await live.session(live.ownerToken)
            _ = try await doctor.post(live.timeline, "after removal")
            #expect(try await nurse.expectSilence() == nil)
            #expect(try await nurse.post(live.timeline, "x")["code"]?.stringValue == "forbidden")
        }
    }

    @Test func anExpiringSessionClosesItsSocket() async throws {
        try await withLiveNode { live in
            // Long enough for `auth` to complete on a loaded machine, short enough to watch expire.
            let short = try await live.store.createSession(user: live.nurse, lifetimeSeconds: 6).token
            let nurse = try await live.session(short)
            #expect(try await nurse.waitForClose(timeout: .seconds(20)) == TsunaguCloseCode.sessionEnded)
        }
    }

    @Test func logoutStopsTheTokenAndClosesItsSockets() async throws {
        try await withLiveNode { live in
            let nurse = try await live.session(live.nurseToken)
            let logout = try await live.http.send("DELETE", "/v1/sessions/current", token: live.nurseToken)
            #expect(logout.status == 204)
            #expect(try await nurse.waitForClose() == TsunaguCloseCode.sessionEnded)
            let me = try await live.http.send("GET", "/v1/me", token: live.nurseToken)
            #expect(me.status == 401)
            let again = try await live.connect()
            #expect(try await again.request(["type": "auth", "token": .string(live.nurseToken)])["code"]?.stringValue
                    == "unauthenticated")
        }
    }
}
