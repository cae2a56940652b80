import Foundation
import Testing
import TsunaguCore
import TsunaguStore

@Suite(.serialized) struct MembershipTests {
    @Test(arguments: StoreBackendKind.allCases)
    func rolesAreEnforcedInsideTheWrite(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        let (member, join) = try await f.store.addMember(timeline: timeline.id, email: "NURSE@sakura.test",
                                                         role: .viewer, by: f.owner)
        #expect(member.role == .viewer && join.seq == 2)
        // viewer: may react and read, not post or call
        await #expect(throws: StoreError.forbidden("the viewer role does not allow this")) {
            try await f.store.post(timeline: timeline.id, author: f.nurse, body: "x", clientMsgID: UUID().uuidString.lowercased())
        }
        await #expect(throws: StoreError.forbidden("the viewer role does not allow this")) {
            try await f.store.call(timeline: timeline.id, author: f.nurse, callID: UUID().uuidString.lowercased(), op: .start)
        }
        #expect(try await f.store.markRead(timeline: timeline.id, user: f.nurse.id, seq: 2))
        // non-member: forbidden for everything, and for timelines that do not exist alike
        await #expect(throws: StoreError.forbidden("not a member of this timeline")) {
            try await f.store.history(timeline: timeline.id, user: f.outsider.id, after: 0, limit: 10)
        }
        await #expect(throws: StoreError.forbidden("not a member of this timeline")) {
            try await f.store.history(timeline: TimelineID.random(), user: f.outsider.id, after: 0, limit: 10)
        }
        await #expect(throws: StoreError.forbidden("the viewer role does not allow this")) {
            try await f.store.addMember(timeline: timeline.id, email: "other@sakura.test", role: .member, by: f.nurse)
        }
        await #expect(throws: StoreError.forbidden("not a member of this timeline")) {
            try await f.store.addMember(timeline: timeline.id, email: "nobody@x.test", role: .member, by: f.outsider)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)

    func lastOwnerCannotLeaveButMembersCan(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        _ = try await f.store.addMember(timeline: timeline.id, email: "nurse@sakura.test", role: .member, by: f.owner)
        await #expect(throws: StoreError.conflict("the last owner cannot leave; add another owner first")) {
            try await f.store.removeMember(timeline: timeline.id, user: f.owner.id, by: f.owner)
        }
        await #expect(throws: StoreError.forbidden("the member role does not allow this")) {
            try await f.store.removeMember(timeline: timeline.id, user: f.owner.id, by: f.nurse)
        }
        let leave = try await f.store.removeMember(timeline: timeline.id, user: f.nurse.id, by: f.nurse)
        #expect(leave.payload == .member(user: f.nurse.person, op: .leave, role: .member))
        #expect(try await f.store.role(of: f.nurse.id, in: timeline.id) == nil)
        await #expect(throws: StoreError.conflict("already a member")) {
            try await f.store.addMember(timeline: timeline.id, email: "doc@sakura.test", role: .member, by: f.owner)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)

    func sessionsExpireAndRevoke(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (token, session) = try await f.store.createSession(user: f.owner, lifetimeSeconds: 60)
        #expect(try await f.store.session(token: token)?.id == session.id)
        #expect(try await f.store.session(token: token + "x") == nil)
        try await f.store.revokeSession(session.id)
        #expect(try await f.store.session(token: token) == nil)
        let (expired, _) = try await f.store.createSession(user: f.owner, lifetimeSeconds: 0)
        #expect(try await f.store.session(token: expired) == nil)
    }
}
