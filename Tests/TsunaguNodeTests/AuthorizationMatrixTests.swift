import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguStore

/// Every HTTP and WebSocket operation × every kind of caller → allowed or denied, from one table.
@Suite struct AuthorizationMatrixTests {
    enum Caller: String, CaseIterable {
        case orgAdmin, owner, member, viewer, nonMember, otherOrgAdmin, disabled, noToken
    }

    enum Operation: String, CaseIterable {
        case subscribe, post, ack, react, read, call, unsubscribe, history, addMember, removeMember
        case adminAudit, adminInvite, adminPatch, adminRevokeSessions, mySessions
    }

    /// The table. Timeline operations follow the timeline role alone (an organization admin who is
    /// not a member sees nothing); admin operations follow the organization role.
    static let allowed: [Operation: Set<Caller>] = [
        .subscribe: [.owner, .member, .viewer],
        .post: [.owner, .member],
        .ack: [.owner, .member],
        .react: [.owner, .member, .viewer],
        .read: [.owner, .member, .viewer],
        .call: [.owner, .member],
        .unsubscribe: [.owner, .member, .viewer],
        .history: [.owner, .member, .viewer],
        .addMember: [.owner],
        .removeMember: [.owner],
        .adminAudit: [.orgAdmin, .otherOrgAdmin],
        .adminInvite: [.orgAdmin, .otherOrgAdmin],
        .adminPatch: [.orgAdmin],
        .adminRevokeSessions: [.orgAdmin],
        .mySessions: [.orgAdmin, .owner, .member, .viewer, .nonMember, .otherOrgAdmin],
    ]

    @Test func everyOperationForEveryCaller() async throws {
        try await withLiveNode { live in
            let store = live.store
            let clinic = live.owner.organization
            let orgAdmin = try store.createUser(organization: clinic, email: "admin@sakura.test", name: "Admin",
                                                passwordHash: nil, role: .admin)
            let bystander = try store.createUser(organization: clinic, email: "by@sakura.test", name: "Bystander",
                                                 passwordHash: nil, role: .member)
            let otherAdmin = try store.createUser(organization: live.outsider.organization, email: "boss@kita.test",
                                                  name: "Boss", passwordHash: nil, role: .admin)
            let retired = try store.createUser(organization: clinic, email: "retired@sakura.test", name: "Retired",
                                               passwordHash: nil, role: .member)
            _ = try await store.addMember(timeline: live.timeline, email: retired.email, role: .member, by: live.owner)
            let retiredToken = try await store.createSession(user: retired, lifetimeSeconds: 600).token
            _ = try await store.updateUser(retired.id, in: clinic, role: nil, disabled: true)
            let message = try await store.post(timeline: live.timeline, author: live.owner, body: "target",
                                               clientMsgID: UUID().uuidString.lowercased()).event.seq
            var tokens: [Caller: String] = [
                .owner: live.ownerToken, .member: live.nurseToken, .viewer: live.familyToken,
                .disabled: retiredToken,
            ]
            tokens[.orgAdmin] = try await store.createSession(user: orgAdmin, lifetimeSeconds: 600).token
            tokens[.nonMember] = try await store.createSession(user: bystander, lifetimeSeconds: 600).token
            tokens[.otherOrgAdmin] = try await store.createSession(user: otherAdmin, lifetimeSeconds: 600).token
            let tl = live.timeline.rawValue
            var counter = 0

            for caller in Caller.allCases {
                for operation in Operation.allCases {
                    counter += 1
                    let token = tokens[caller]
                    let outcome: (allowed: Bool, code: String?)
                    switch operation {
                    case .subscribe, .post, .ack, .react, .read, .call, .unsubscribe:
                        let connection = try await live.connect()
                        if let token { _ = try await connection.request(["type": "auth", "token": .string(token)]) }
                        if operation == .unsubscribe, caller != .noToken {
                            _ = try await connection.request(["type": "subscribe", "timeline": .string(tl)])
                        }
                        let request: JSONObject = switch operation {
                        case .subscribe: ["type": "subscribe", "timeline": .string(tl)]
                        case .post: ["type": "post", "timeline": .string(tl), "body": "x", "client_msg_id": .string(UUID().uuidString)]
                        case .ack: ["type": "react", "timeline": .string(tl), "target_seq": .int(Int(message)), "reaction": "ack", "op": "add"]
                        case .react: ["type": "react", "timeline": .string(tl), "target_seq": .int(Int(message)), "reaction": "👍", "op": "add"]
                        case .read: ["type": "read", "timeline": .string(tl), "seq": 1]
                        case .call: ["type": "call", "timeline": .string(tl), "call_id": .string(UUID().uuidString), "op": "start"]
                        default: ["type": "unsubscribe", "timeline": .string(tl)]
                        }
                        let reply = try await connection.request(request)
                        outcome = (reply["type"]?.stringValue == "ok", reply["code"]?.stringValue)
                        await connection.close()
                    case .history, .addMember, .removeMember, .adminAudit, .adminInvite, .adminPatch, .adminRevokeSessions,
                         .mySessions:
                        let fresh = try store.createUser(organization: clinic, email: "u\(counter)@sakura.test", name: "U\(counter)",
                                                         passwordHash: nil, role: .member)
                        let (method, path, body): (String, String, JSONObject?) = switch operation {
                        case .history: ("GET", "/v1/timelines/\(tl)/events", nil)
                        case .addMember: ("POST", "/v1/timelines/\(tl)/members", ["email": .string(fresh.email), "role": "viewer"])
                        case .removeMember: ("DELETE", "/v1/timelines/\(tl)/members/\(try await Self.addedMember(store, live, fresh))", nil)
                        case .adminAudit: ("GET", "/v1/admin/audit", nil)
                        case .adminInvite: ("POST", "/v1/admin/users", ["email": .string("inv\(counter)@x.test"), "name": "Inv"])
                        case .adminRevokeSessions: ("DELETE", "/v1/admin/users/\(fresh.id.rawValue)/sessions", nil)
                        case .mySessions: ("GET", "/v1/me/sessions", nil)
                        default: ("PATCH", "/v1/admin/users/\(bystander.id.rawValue)", ["role": "member"])
                        }
                        let reply = try await live.http.send(method, path, json: body, token: token)
                        outcome = ((200..<300).contains(reply.status), reply.json?["code"]?.stringValue)
                    }
                    let expected = Self.allowed[operation]!.contains(caller)
                    #expect(outcome.allowed == expected, "\(caller.rawValue) \(operation.rawValue): got \(outcome.code ?? "ok")")
                    if !expected {
                        #expect(["forbidden", "unauthenticated", "not_found"].contains(outcome.code ?? ""),
                                "\(caller.rawValue) \(operation.rawValue) denied with \(outcome.code ?? "nothing")")
                    }
                }
            }
        }
    }

    /// A member the owner just added, so that removing them is a real removal.
    private static func addedMember(_ store: HubStore, _ live: LiveNode, _ user: UserRecord) async throws -> String {
        _ = try await store.addMember(timeline: live.timeline, email: user.email, role: .viewer, by: live.owner)
        return user.id.rawValue
    }
}
