import Foundation
import GRDB
import Testing
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

@Suite(.serialized) struct EncryptionAtRestTests {
    /// Nothing a person typed may appear in the database file, its WAL or its shared-memory file.
    @Test(arguments: StoreBackendKind.allCases)
    func typedTextIsNowhereOnDisk(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let marker = "MARKER-\(UUID().uuidString)"
        _ = try f.store.createUser(organization: f.organization.id, email: "\(marker.lowercased())@x.test",
                                   name: "Name \(marker)", passwordHash: nil, role: .member)
        let (timeline, _) = try await f.store.createTimeline(title: "Title \(marker)", kind: .patient, creator: f.owner)
        let (message, _) = try await f.store.post(timeline: timeline.id, author: f.owner, body: "Body \(marker)",
                                                  clientMsgID: UUID().uuidString.lowercased())
        _ = try await f.store.react(timeline: timeline.id, author: f.owner, targetSeq: message.seq, reaction: "R\(marker.prefix(20))", op: .add)
        // The clear text comes back through the store…
        let (events, _) = try await f.store.history(timeline: timeline.id, user: f.owner.id, after: 0, limit: 10)
        #expect(events.contains { $0.payload == .message(body: "Body \(marker)", clientMsgID: message.clientMsgIDForTest) })
        // …and is in none of the files.
        var checked = 0
        for file in try f.filesAtRest() {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            checked += 1
            for needle in [marker, marker.lowercased(), String(marker.prefix(20))] {
                #expect(data.range(of: Data(needle.utf8)) == nil, "found in \((file as NSString).lastPathComponent)")
            }
        }
        #expect(checked >= 2)
    }

    /// A ciphertext copied into another row fails to open: the row is bound into the GCM tag.
    @Test(arguments: StoreBackendKind.allCases)
    func ciphertextMovedToAnotherRowDoesNotDecrypt(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        let (timeline, _) = try await f.store.createTimeline(title: "T", kind: .group, creator: f.owner)
        for body in ["first", "second"] {
            _ = try await f.store.post(timeline: timeline.id, author: f.owner, body: body, clientMsgID: UUID().uuidString.lowercased())
        }
        let id = timeline.id.rawValue
        try f.raw("""
            UPDATE events SET payload = (SELECT payload FROM events WHERE timeline_id = '\(id)' AND seq = 2)
            WHERE timeline_id = '\(id)' AND seq = 3
            """)
        await #expect(throws: StoreError.corrupt("events.payload")) {
            try await f.store.history(timeline: timeline.id, user: f.owner.id, after: 2, limit: 10)
        }
        // The untouched row still opens.
        let (events, _) = try await f.store.history(timeline: timeline.id, user: f.owner.id, after: 1, limit: 1)
        #expect(events.first?.payload == .message(body: "first", clientMsgID: events.first!.clientMsgIDForTest))
    }

    @Test(arguments: StoreBackendKind.allCases)

    func aWrongMasterKeyIsRefusedNotReplaced(_ backend: StoreBackendKind) async throws {
        let f = try await StoreFixture.make(backend)
        defer { f.remove() }
        #expect(throws: StoreError.masterKeyMismatch) {
            _ = try HubStore(location: f.location, masterKey: MasterKey(key: SymmetricKey.random()))
        }
        // and the right key still opens it
        _ = try f.reopen()
    }
}

extension TimelineEvent {
    var clientMsgIDForTest: String {
        if case .message(_, let id) = payload { return id }
        return ""
    }
}
