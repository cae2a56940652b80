import Foundation
import GRDB
import Testing
import TsunaguCore
import TsunaguStore

/// Every user has a profession (docs/protocol.md §5): stored in a plain column, shown in events'
/// authors and in a timeline's member list with each member's read marker.
@Suite(.serialized) struct ProfessionTests {
    @Test(arguments: StoreBackendKind.allCases)
    func aUserWithoutAProfessionIsOtherAndTheColumnIsPlainText(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        #expect(f.nurse.profession == .other)
        let doctor = try f.store.createUser(organization: f.organization.id, email: "ito2@sakura.test", name: "Dr. Ito 2",
                                            passwordHash: nil, role: .member, profession: .doctor)
        #expect(try await f.store.user(id: doctor.id)?.profession == .doctor)
        let stored = try [f.nurse.id, doctor.id].map { id in
            try f.raw("SELECT profession FROM users WHERE id = '\(id.rawValue)'")
        }
        #expect(stored == ["other", "doctor"])
    }

    @Test(arguments: StoreBackendKind.allCases)

    func anAdminsChangeShowsInNewEventsAndInHistory(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "Patient Tanaka", kind: .patient, creator: f.owner)
        _ = try await f.store.addMember(timeline: timeline.id, email: f.nurse.email, role: .member, by: f.owner)
        let (user, revoked) = try await f.store.updateUser(f.nurse.id, in: f.organization.id, role: nil, disabled: nil,
                                                           profession: .nurse)
        #expect(user.profession == .nurse && revoked.isEmpty)
        let (posted, _) = try await f.store.post(timeline: timeline.id, author: user, body: "BP 132/80",
                                                 clientMsgID: UUID().uuidString)
        #expect(posted.author.profession == .nurse)
        // a fresh process (no name cache) reads it from the row
        let reopened = try f.reopen()
        let (events, _) = try await reopened.history(timeline: timeline.id, user: f.owner.id, after: 0, limit: 10)
        #expect(events.last?.author == Person(id: f.nurse.id, name: "Sato Hanako", profession: .nurse))
        // the join event names the joining user with their profession as of reading
        guard case .member(let joined, _, _)? = events.dropFirst().first?.payload else {
            Issue.record("no join event")
            return
        }
        #expect(joined.profession == .nurse)
    }

    @Test(arguments: StoreBackendKind.allCases)

    func theMemberListCarriesProfessionRoleAndReadMarkerForMembersOnly(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "Patient Tanaka", kind: .patient, creator: f.owner)
        _ = try await f.store.addMember(timeline: timeline.id, email: f.nurse.email, role: .viewer, by: f.owner)
        _ = try await f.store.updateUser(f.owner.id, in: f.organization.id, role: nil, disabled: nil, profession: .doctor)
        #expect(try await f.store.markRead(timeline: timeline.id, user: f.owner.id, seq: 2))
        let members = try await f.store.memberList(timeline: timeline.id, for: f.nurse.id)
        #expect(members.count == 2)
        let owner = try #require(members.first { $0.user.id == f.owner.id })
        let nurse = try #require(members.first { $0.user.id == f.nurse.id })
        #expect(owner.user.profession == .doctor && owner.role == .owner && owner.readSeq == 2)
        #expect(nurse.user.profession == .other && nurse.role == .viewer && nurse.readSeq == 0)
        await #expect(throws: StoreError.self) {
            _ = try await f.store.memberList(timeline: timeline.id, for: f.outsider.id)
        }
    }

    @Test(arguments: StoreBackendKind.allCases)

    func theOrganizationsUserListSaysWhoHasActivated(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let invited = try await f.store.invite(email: "new@sakura.test", name: "New", role: .member, profession: .pharmacist,
                                               organization: f.organization.id, linkLifetimeSeconds: 60,
                                               mail: { _ in ActivationMail(subject: "s", body: "b") })
        let members = try await f.store.members(ofOrganization: f.organization.id)
        #expect(members.count == 4)
        let entry = try #require(members.first { $0.user.id == invited.id })
        #expect(!entry.activated && entry.user.profession == .pharmacist)
    }
}
