import Foundation
import GRDB
import Synchronization
import Testing
import TsunaguCore
import TsunaguStore
import TsunaguTestSupport

/// Actions whose audit entry the store decides inside their transaction (a login lock, a link
/// that resets a password, an invitation and its answers, a read's pair of entries): if the entry
/// cannot be written, the action does not happen (docs/security.md, "Audit log"). The audit log
/// is made to refuse one action's entries with a trigger, as a full disk or a broken log would.
@Suite struct AuditAtomicityTests {
    enum Action: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case loginLocked = "login.locked"
        case passwordReset = "password.reset"
        case memberInvited = "member.invited"
        case inviteAccept = "member.invite.accept"
        case inviteDecline = "member.invite.decline"
        case inviteWithdrawn = "member.invite.withdrawn"
        case readPair = "timeline.read"

        var testDescription: String { rawValue }
    }

    /// Makes every insert into the audit log whose row matches `condition` fail.
    static func refuseAuditEntries(_ f: StoreFixture, where condition: String) throws {
        switch f.backend {
        case .sqlite:
            let queue = try DatabaseQueue(path: f.path)
            defer { try? queue.close() }
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log WHEN \(condition)
                    BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END
                    """)
            }
        case .postgres:
            try f.raw("""
                CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF \(condition) THEN RAISE EXCEPTION 'audit log unavailable'; END IF; RETURN NEW; END $$;
                CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();
                """)
        }
    }

    private func entries(_ f: StoreFixture, _ organization: OrganizationID, _ action: String) async throws -> [AuditEntry] {
        try await f.store.auditEntries(AuditFilter(organization: organization, fromMillis: 0, toMillis: .max, action: action),
                                       afterSeq: 0, limit: 100)
    }

    @Test(arguments: StoreBackendKind.allCases, Action.allCases)
    func anActionWhoseEntryCannotBeWrittenDoesNotHappen(_ backend: StoreBackendKind, _ action: Action) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let store = f.store
        // Another organization's pharmacist, and a timeline of the clinic they are invited into.
        let kita = try store.createOrganization(name: "Kita Pharmacy")
        let pharmacist = try store.createUser(organization: kita.id, email: "pharm@kita.test", name: "Kita", passwordHash: nil,
                                              role: .member)
        let (timeline, _) = try await store.createTimeline(title: "Patient Tanaka", kind: .patient, creator: f.owner)
        func invite() async throws -> MemberAddition {
            try await store.recording(AuditRecord(organization: f.organization.id, actor: f.owner.id, action: "member.invite",
                                                  target: timeline.id.rawValue)) {
                try await store.addOrInviteMember(timeline: timeline.id, email: "pharm@kita.test", role: .member, by: f.owner)
            }
        }
        func answer(_ work: () async throws -> Void) async throws {
            try await store.recording(AuditRecord(organization: kita.id, actor: pharmacist.id, action: "member.invite.accept"),
                                      work)
        }
        let pending = { try await store.invitations(for: pharmacist.id) }

        switch action {
        case .loginLocked:
            var policy = LoginThrottlePolicy()
            policy.accountFailures = 2
            let lockEntry = AuditRecord(organization: nil, actor: nil, action: "login.locked", source: "192.0.2.7")
            try Self.refuseAuditEntries(f, where: "NEW.action = 'login.locked'")
            #expect(try await store.reserveLoginAttempt(email: f.nurse.email, source: "192.0.2.7", policy: policy,
                                                        lockEntry: lockEntry) == .reserved(locks: false))
            try await store.loginFailed(email: f.nurse.email, source: "192.0.2.7")
            await #expect(throws: (any Error).self) {
                _ = try await store.reserveLoginAttempt(email: f.nurse.email, source: "192.0.2.7", policy: policy,
                                                        lockEntry: lockEntry)
            }
            #expect(try await store.loginLockedUntil(email: f.nurse.email, source: "192.0.2.7") == nil, "no lock unrecorded")

        case .passwordReset:
            let active = try store.createUser(organization: f.organization.id, email: "active@sakura.test", name: "Active",
                                              passwordHash: "old-hash", role: .member)
            let session = try await store.createSession(user: active, lifetimeSeconds: 600)
            let token = Mutex<String?>(nil)
            try await store.issueActivationLink(for: active, lifetimeSeconds: 600) { sent in
                token.withLock { $0 = sent }
                return ActivationMail(subject: "s", body: "b")
            }
            let link = try #require(token.withLock { $0 })
            try Self.refuseAuditEntries(f, where: "NEW.action = 'password.reset'")
            await #expect(throws: (any Error).self) {
                _ = try await store.recording(AuditRecord(organization: nil, actor: nil, action: "registration.complete")) {
                    try await store.completeActivation(token: link, name: nil, passwordHash: "new-hash", check: { _, _ in nil })
                }
            }
            #expect(try await store.userForLogin(email: "active@sakura.test")?.passwordHash == "old-hash")
            #expect(try await store.usableActivationLink(token: link) == "active@sakura.test", "the link is not used up")
            #expect(try await store.session(token: session.token) != nil, "no session ended")
            #expect(try await entries(f, f.organization.id, "registration.complete").isEmpty)

        case .memberInvited:
            try Self.refuseAuditEntries(f, where: "NEW.action = 'member.invited'")
            await #expect(throws: (any Error).self) { _ = try await invite() }
            #expect(try await pending().isEmpty)
            #expect(try await entries(f, f.organization.id, "member.invite").isEmpty)

        case .inviteAccept, .inviteDecline:
            _ = try await invite()
            let invitation = try #require(try await pending().first)
            try Self.refuseAuditEntries(f, where: "NEW.action = '\(action.rawValue)' AND NEW.org_id = '\(f.organization.id.rawValue)'")
            await #expect(throws: (any Error).self) {
                try await answer {
                    if action == .inviteAccept {
                        _ = try await store.acceptInvitation(invitation.id, by: pharmacist)
                    } else {
                        _ = try await store.declineInvitation(invitation.id, by: pharmacist)
                    }
                }
            }
            #expect(try await pending().map(\.id) == [invitation.id], "still pending")
            #expect(try await store.role(of: pharmacist.id, in: timeline.id) == nil)
            // Nor was the invitee's own organization's entry kept without the inviter's.
            #expect(try await entries(f, kita.id, action.rawValue).isEmpty)

        case .inviteWithdrawn:
            _ = try await invite()
            let invitation = try #require(try await pending().first)
            // The inviter stops being an owner: the invitation is withdrawn when answered.
            _ = try await store.addMember(timeline: timeline.id, email: f.nurse.email, role: .owner, by: f.owner)
            _ = try await store.removeMember(timeline: timeline.id, user: f.owner.id, by: f.nurse)
            try Self.refuseAuditEntries(f, where: "NEW.action = 'member.invite.withdrawn'")
            await #expect(throws: (any Error).self) {
                try await answer { _ = try await store.acceptInvitation(invitation.id, by: pharmacist) }
            }
            #expect(try await pending().map(\.id) == [invitation.id], "not deleted unrecorded")

        case .readPair:
            // A read by another organization's member is one entry in each organization: both or neither.
            try Self.refuseAuditEntries(f, where: "NEW.action = 'timeline.read' AND NEW.org_id = '\(kita.id.rawValue)'")
            await #expect(throws: (any Error).self) {
                try await store.audit(all: [f.organization.id, kita.id].map {
                    AuditRecord(organization: $0, actor: pharmacist.id, action: "timeline.read", target: timeline.id.rawValue)
                })
            }
            #expect(try await entries(f, f.organization.id, "timeline.read").isEmpty)
        }
        #expect(try await store.verifyAuditChain().brokenAt == nil)
    }

    /// The entries these actions commit, when the log takes them: named by the transaction.
    @Test(arguments: StoreBackendKind.allCases)
    func theEntriesCommitWithTheirActionNamingWhomTheyConcern(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let store = f.store
        var policy = LoginThrottlePolicy()
        policy.accountFailures = 1
        let lockEntry = AuditRecord(organization: nil, actor: nil, action: "login.locked", source: "192.0.2.7")
        #expect(try await store.reserveLoginAttempt(email: f.nurse.email, source: "192.0.2.7", policy: policy,
                                                    lockEntry: lockEntry) == .reserved(locks: true))
        let locked = try await entries(f, f.organization.id, "login.locked")
        #expect(locked.map(\.record.target) == [f.nurse.id.rawValue])
        #expect(locked.first?.record.source == "192.0.2.7")

        let kita = try store.createOrganization(name: "Kita Pharmacy")
        let pharmacist = try store.createUser(organization: kita.id, email: "pharm@kita.test", name: "Kita", passwordHash: nil,
                                              role: .member)
        let (timeline, _) = try await store.createTimeline(title: "Patient Tanaka", kind: .patient, creator: f.owner)
        _ = try await store.recording(AuditRecord(organization: f.organization.id, actor: f.owner.id, action: "member.invite",
                                                  target: timeline.id.rawValue, source: "192.0.2.8", node: "n_1")) {
            try await store.addOrInviteMember(timeline: timeline.id, email: "pharm@kita.test", role: .member, by: f.owner)
        }
        #expect(try await entries(f, f.organization.id, "member.invite").count == 1)
        let invited = try await entries(f, kita.id, "member.invited")
        #expect(invited.map(\.record.target) == [pharmacist.id.rawValue])
        #expect(invited.first?.record.source == "192.0.2.8" && invited.first?.record.node == "n_1")

        let invitation = try #require(try await store.invitations(for: pharmacist.id).first)
        _ = try await store.recording(AuditRecord(organization: kita.id, actor: pharmacist.id, action: "member.invite.accept")) {
            try await store.acceptInvitation(invitation.id, by: pharmacist)
        }
        for organization in [f.organization.id, kita.id] {
            let accepted = try await entries(f, organization, "member.invite.accept")
            #expect(accepted.map(\.record.target) == ["\(timeline.id.rawValue)/\(pharmacist.id.rawValue)"])
        }
        #expect(try await store.verifyAuditChain().brokenAt == nil)
    }
}
