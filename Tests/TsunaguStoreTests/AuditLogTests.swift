import Foundation
import GRDB
import Testing
import TsunaguCore
import TsunaguStore

@Suite(.serialized) struct AuditLogTests {
    private func fill(_ f: StoreFixture, count: Int) async throws {
        for i in 0..<count {
            try await f.store.audit(AuditRecord(organization: f.organization.id, actor: f.owner.id, action: "login.success",
                                                target: "s_\(i)", source: "127.0.0.1", node: "n_a",
                                                details: "attempt \(i)"))
        }
    }

    @Test(arguments: StoreBackendKind.allCases)

    func anUntouchedChainVerifies(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        try await fill(f, count: 5)
        let result = try await f.store.verifyAuditChain()
        #expect(result.checked == 5 && result.brokenAt == nil)
        let entries = try await f.store.auditEntries(organization: f.organization.id, fromMillis: 0,
                                                     toMillis: Int64.max, limit: 10)
        #expect(entries.map(\.record.details) == (0..<5).map { "attempt \($0)" })
    }

    @Test(arguments: StoreBackendKind.allCases, [
        "UPDATE audit_log SET action = 'login.failure' WHERE seq = 3",
        "UPDATE audit_log SET at_ms = at_ms + 1 WHERE seq = 3",
        "DELETE FROM audit_log WHERE seq = 3",
        "UPDATE audit_log SET details = (SELECT details FROM audit_log WHERE seq = 4) WHERE seq = 3",
    ])
    func aChangedOrDeletedEntryBreaksTheChain(_ backend: StoreBackendKind, tampering: String) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        try await fill(f, count: 5)
        try f.raw(tampering)
        let result = try await f.store.verifyAuditChain()
        #expect(result.brokenAt == 3 || (tampering.hasPrefix("DELETE") && result.brokenAt == 4))
        #expect(result.checked == 2)
    }

    @Test(arguments: StoreBackendKind.allCases)

    func anotherOrganizationsEntriesAreNotListed(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        try await fill(f, count: 2)
        let other = try f.store.createOrganization(name: "Other")
        #expect(try await f.store.auditEntries(organization: other.id, fromMillis: 0, toMillis: Int64.max, limit: 10).isEmpty)
    }
}
