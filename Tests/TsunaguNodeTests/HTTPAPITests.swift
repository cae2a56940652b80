import Foundation
import Testing
import TsunaguClient
import TsunaguCore

/// docs/protocol.md §6 over real HTTP.
@Suite struct HTTPAPITests {
    @Test func loginMeTimelinesAndHistory() async throws {
        try await withLiveNode { live in
            let http = live.http
            let login = try await http.send("POST", "/v1/sessions",
                                            json: ["email": "Nurse@Sakura.test", "password": .string(LiveNode.password)])
            #expect(login.status == 201)
            let token = try #require(login.json?["token"]?.stringValue)
            #expect(login.json?["expires_at"]?.stringValue?.hasSuffix("+09:00") == true)
            #expect(login.json?["user"]?["id"]?.stringValue == live.nurse.id.rawValue)
            let me = try await http.send("GET", "/v1/me", token: token)
            #expect(me.status == 200)
            #expect(me.json?["name"]?.stringValue == "Sato Hanako")
            #expect(me.json?["org"]?["name"]?.stringValue == "Sakura Clinic")
            let list = try await http.send("GET", "/v1/timelines", token: token)
            let first = try #require(list.json?["timelines"]?.arrayValue?.first)
            #expect(first["id"]?.stringValue == live.timeline.rawValue)
            #expect(first["role"]?.stringValue == "member")
            #expect(first["head"]?.intValue == LiveNode.setupHead)
            let page = try await http.send("GET", "/v1/timelines/\(live.timeline.rawValue)/events?after=1&limit=1", token: token)
            #expect(page.status == 200)
            #expect(page.json?["events"]?.arrayValue?.map { $0["seq"]?.intValue } == [2])
            #expect(page.json?["head"]?.intValue == LiveNode.setupHead)
        }
    }

    @Test func badCredentialsAreOne401ForEveryCause() async throws {
        try await withLiveNode { live in
            for body: JSONObject in [["email": "nurse@sakura.test", "password": "wrong password!"],
                                     ["email": "nobody@sakura.test", "password": "wrong password!"]] {
                let reply = try await live.http.send("POST", "/v1/sessions", json: body)
                #expect(reply.status == 401)
                #expect(reply.json?["code"]?.stringValue == "unauthenticated")
                #expect(reply.json?["message"]?.stringValue == "wrong e-mail address or password")
            }
        }
    }

    @Test func createTimelineAndManageMembers() async throws {
        try await withLiveNode { live in
            let http = live.http
            let created = try await http.send("POST", "/v1/timelines", json: ["title": "Home visits", "kind": "group"],
                                              token: live.nurseToken)
            #expect(created.status == 201)
            #expect(created.json?["role"]?.stringValue == "owner")
            let id = try #require(created.json?["id"]?.stringValue)
            // another organization's user is invited (202) and joins on accepting
            let added = try await http.send("POST", "/v1/timelines/\(id)/members",
                                            json: ["email": "pharm@kita.test", "role": "member"], token: live.nurseToken)
            #expect(added.status == 202)
            // only an owner may add
            let refused = try await http.send("POST", "/v1/timelines/\(id)/members",
                                              json: ["email": "doc@sakura.test", "role": "member"], token: live.outsiderToken)
            #expect(refused.status == 403)
            let invitations = try await http.send("GET", "/v1/me/invitations", token: live.outsiderToken)
            let invitation = try #require(invitations.json?["invitations"]?.arrayValue?.first?["id"]?.stringValue)
            let accepted = try await http.send("POST", "/v1/me/invitations/\(invitation)/accept", token: live.outsiderToken)
            #expect(accepted.status == 200)
            // the same answer again, member or not
            let again = try await http.send("POST", "/v1/timelines/\(id)/members",
                                            json: ["email": "pharm@kita.test", "role": "viewer"], token: live.nurseToken)
            #expect(again.status == 202)
            // a colleague joins at once; twice is a conflict
            let colleague = try await http.send("POST", "/v1/timelines/\(id)/members",
                                                json: ["email": "doc@sakura.test", "role": "member"], token: live.nurseToken)
            #expect(colleague.status == 201)
            #expect(colleague.json?["user"]?["id"]?.stringValue == live.owner.id.rawValue)
            let duplicate = try await http.send("POST", "/v1/timelines/\(id)/members",
                                                json: ["email": "doc@sakura.test", "role": "viewer"], token: live.nurseToken)
            #expect(duplicate.status == 409)
            let unknownUser = try await http.send("POST", "/v1/timelines/\(id)/members",
                                                  json: ["email": "ghost@x.test", "role": "viewer"], token: live.nurseToken)
            #expect(unknownUser.status == 202)
            let leave = try await http.send("DELETE", "/v1/timelines/\(id)/members/\(live.outsider.id.rawValue)",
                                            token: live.outsiderToken)
            #expect(leave.status == 204)
        }
    }

    @Test func badRequestsGetClearErrors() async throws {
        try await withLiveNode { live in
            let http = live.http
            let cases: [(String, String, JSONObject?, String?, Int, String)] = [
                ("GET", "/v1/me", nil, nil, 401, "unauthenticated"),
                ("GET", "/v1/me", nil, "bogus", 401, "unauthenticated"),
                ("POST", "/v1/timelines", ["title": "x"], live.nurseToken, 400, "bad_request"),
                ("POST", "/v1/timelines", ["title": "x", "kind": "party"], live.nurseToken, 400, "bad_request"),
                ("POST", "/v1/timelines", ["title": "", "kind": "group"], live.nurseToken, 400, "bad_request"),
                ("GET", "/v1/timelines/\(live.timeline.rawValue)/events?limit=0", nil, live.nurseToken, 400, "bad_request"),
                ("GET", "/v1/timelines/not-an-id/events", nil, live.nurseToken, 403, "forbidden"),
                ("GET", "/v1/nothing-here", nil, nil, 404, "not_found"),
            ]
            for (method, path, body, token, status, code) in cases {
                let reply = try await http.send(method, path, json: body, token: token)
                #expect(reply.status == status, "\(method) \(path)")
                #expect(reply.json?["code"]?.stringValue == code, "\(method) \(path)")
            }
            let garbage = try await http.send("POST", "/v1/sessions", headers: [("Content-Type", "application/json")])
            #expect(garbage.status == 400)
            let ready = try await http.send("GET", "/readyz")
            #expect(ready.status == 200)
        }
    }
}

/// `GET /metrics`: Prometheus text with low-cardinality labels.
@Suite struct MetricsTests {
    @Test func metricsCountWhatHappened() async throws {
        try await withLiveNode { live in
            let doctor = try await live.session(live.ownerToken)
            _ = try await doctor.subscribe(live.timeline)
            _ = try await doctor.post(live.timeline, "counted")
            _ = try await doctor.request(["type": "post", "timeline": "tl_nosuchtimeline", "body": "x",
                                          "client_msg_id": .string(UUID().uuidString)])
            #expect(try await live.http.send("GET", "/metrics").status == 404, "metrics stay off the client port")
            let admin = TsunaguHTTPClient(host: "127.0.0.1", port: try #require(live.node.adminPort), group: live.group)
            #expect(try await admin.send("GET", "/healthz").status == 200)
            let metrics = try await admin.send("GET", "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
            let text = metrics.text
            #expect(text.contains("tsunagu_events_committed_total 1"))
            #expect(text.contains(#"tsunagu_requests_total{op="post",outcome="ok"} 1"#))
            #expect(text.contains(#"tsunagu_requests_total{op="post",outcome="forbidden"} 1"#))
            #expect(text.contains("tsunagu_websocket_connections 1"))
            #expect(text.contains("tsunagu_subscriptions 1"))
            #expect(!text.contains(live.timeline.rawValue), "no timeline id in a label")
        }
    }
}
