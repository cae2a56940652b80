import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguNode
import TsunaguStore

/// Issue item "adding someone from another organization": a pending invitation the invitee
/// accepts or declines, the same answer whether or not the address exists, and both
/// organizations' audit logs (docs/security.md, "Cross-organization members").
@Suite(.serialized, .timeLimit(.minutes(5)))
struct CrossOrganizationMembersTests {
    private static func add(_ live: LiveNode, _ email: String, role: String = "member") async throws -> HTTPReply {
        try await live.http.send("POST", "/v1/timelines/\(live.timeline.rawValue)/members",
                                 json: ["email": .string(email), "role": .string(role)], token: live.ownerToken)
    }

    /// A colleague joins at once (201); a user of another organization and an address nobody
    /// has get the same 202 body, in about the same time, and neither is a member yet.
    @Test func addingSomeoneOutsideTheOrganizationAnswersTheSameWhetherOrNotTheyExist() async throws {
        try await withLiveNode { live in
            let colleague = try live.store.createUser(organization: live.owner.organization, email: "pt@sakura.test",
                                                      name: "PT Mori", passwordHash: nil, role: .member)
            let added = try await Self.add(live, colleague.email)
            #expect(added.status == 201)
            let outsider = try await Self.add(live, "pharm@kita.test")
            let nobody = try await Self.add(live, "nobody@kita.test")
            #expect(outsider.status == 202 && nobody.status == 202)
            #expect(outsider.body == nobody.body)
            #expect(outsider.text.contains("accepted") && !outsider.text.contains(live.outsider.id.rawValue))
            let members = try await live.store.members(of: live.timeline)
            #expect(!members.contains { $0.user.id == live.outsider.id }, "invited, not added")

            // Timing (`AnswerTiming`): the invitee (invited already: the same path) against
            // unknown addresses.
            let floor = live.node.configuration.memberAnswerFloor
            try await AnswerTiming.expectAlike(known: "pharm@kita.test", unknown: { "ghost\($0)-\($1)\($2)@kita.test" },
                                               floor: floor, label: "member add") { email in
                let reply = try await Self.add(live, email)
                #expect(reply.status == 202)
            }
        }
    }

    /// The invitee lists, accepts (a member with the offered role) or declines; nobody else can
    /// answer their invitation; both organizations' audit logs record each step.
    @Test func anInviteeAcceptsOrDeclinesAndBothAuditLogsRecordIt() async throws {
        try await withLiveNode { live in
            #expect(try await Self.add(live, "pharm@kita.test", role: "viewer").status == 202)
            let listed = try await live.http.send("GET", "/v1/me/invitations", token: live.outsiderToken)
            #expect(listed.status == 200)
            let invitations = try #require(listed.json?["invitations"]?.arrayValue)
            #expect(invitations.count == 1)
            let invitation = try #require(invitations.first)
            #expect(invitation["timeline"]?["id"]?.stringValue == live.timeline.rawValue)
            #expect(invitation["timeline"]?["title"]?.stringValue == "Patient Tanaka")
            #expect(invitation["role"]?.stringValue == "viewer")
            #expect(invitation["from"]?["organization"]?["name"]?.stringValue == "Sakura Clinic")
            let id = try #require(invitation["id"]?.stringValue)
            // Not the nurse's to answer, nor visible to her.
            #expect(try await live.http.send("POST", "/v1/me/invitations/\(id)/accept", token: live.nurseToken).status == 404)
            #expect(try await live.http.send("GET", "/v1/me/invitations", token: live.nurseToken)
                .json?["invitations"]?.arrayValue?.isEmpty == true)
            // Before accepting, the timeline is closed to the invitee.
            let path = "/v1/timelines/\(live.timeline.rawValue)/events"
            #expect(try await live.http.send("GET", path, token: live.outsiderToken).status == 403)
            let accepted = try await live.http.send("POST", "/v1/me/invitations/\(id)/accept", token: live.outsiderToken)
            #expect(accepted.status == 200)
            #expect(accepted.json?["role"]?.stringValue == "viewer")
            #expect(try await live.http.send("GET", path, token: live.outsiderToken).status == 200)
            #expect(try await live.store.role(of: live.outsider.id, in: live.timeline) == .viewer)
            #expect(try await live.http.send("POST", "/v1/me/invitations/\(id)/accept", token: live.outsiderToken).status == 404)

            // A second timeline: invited, declined, nothing joined.
            let created = try await live.http.send("POST", "/v1/timelines", json: ["title": "Rehab", "kind": "group"],
                                                   token: live.ownerToken)
            let second = try #require(created.json?["id"]?.stringValue)
            #expect(try await live.http.send("POST", "/v1/timelines/\(second)/members",
                                             json: ["email": "pharm@kita.test", "role": "member"], token: live.ownerToken).status == 202)
            let pending = try await live.http.send("GET", "/v1/me/invitations", token: live.outsiderToken)
            let declineID = try #require(pending.json?["invitations"]?.arrayValue?.first?["id"]?.stringValue)
            #expect(try await live.http.send("POST", "/v1/me/invitations/\(declineID)/decline", token: live.outsiderToken).status == 204)
            #expect(try await live.http.send("GET", "/v1/me/invitations", token: live.outsiderToken)
                .json?["invitations"]?.arrayValue?.isEmpty == true)
            #expect(try await live.http.send("GET", "/v1/timelines/\(second)/events", token: live.outsiderToken).status == 403)

            let clinic = try await live.store.auditEntries(organization: live.owner.organization, fromMillis: 0,
                                                           toMillis: .max, limit: 200).map(\.record.action)
            let pharmacy = try await live.store.auditEntries(organization: live.outsider.organization, fromMillis: 0,
                                                             toMillis: .max, limit: 200).map(\.record.action)
            for action in ["member.invite.accept", "member.invite.decline"] {
                #expect(clinic.contains(action), "\(action) in the inviting organization's log")
                #expect(pharmacy.contains(action), "\(action) in the invitee's organization's log")
            }
            #expect(clinic.filter { $0 == "member.invite" }.count == 2)
            #expect(pharmacy.filter { $0 == "member.invited" }.count == 2)
        }
    }
}
