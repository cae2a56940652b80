import Foundation
import Testing
import TsunaguCore

/// `profession` on the wire: in an event's `author` (and a member event's `user`), and in a
/// receipt when the writer knows it.
@Suite struct ProfessionWireTests {
    let timeline = TimelineID("tl_abc")!

    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func authorsAndMembersCarryTheirProfession() throws {
        let nurse = Person(id: UserID("u_sato")!, name: "Sato Hanako", profession: .nurse)
        let doctor = Person(id: UserID("u_ito")!, name: "Ito", profession: .doctor)
        let message = try object(ServerMessage.event(TimelineEvent(
            timeline: timeline, seq: 4, atMillis: 0, author: nurse, payload: .message(body: "b", clientMsgID: "c")), time: .japan))
        #expect((message["author"] as? [String: Any])?["profession"] as? String == "nurse")
        let join = try object(ServerMessage.event(TimelineEvent(
            timeline: timeline, seq: 2, atMillis: 0, author: doctor, payload: .member(user: nurse, op: .join, role: .member)),
            time: .japan))
        #expect((join["user"] as? [String: Any])?["profession"] as? String == "nurse")
        #expect((join["author"] as? [String: Any])?["profession"] as? String == "doctor")
        #expect(Person(id: UserID("u_x")!, name: "X").profession == .other, "the default")
    }

    @Test func aReceiptCarriesTheProfessionOnlyWhenGiven() throws {
        let plain = try object(ServerMessage.receipt(timeline: timeline, user: UserID("u_sato")!, seq: 7))
        #expect(plain["profession"] == nil && plain["seq"] as? Int == 7)
        let known = try object(ServerMessage.receipt(timeline: timeline, user: UserID("u_sato")!, seq: 7, profession: .careManager))
        #expect(known["profession"] as? String == "care_manager")
    }

    @Test func wireNamesAreTheContractsList() {
        #expect(Profession.allCases.map(\.rawValue) == ["doctor", "dentist", "pharmacist", "nurse", "therapist",
                                                        "care_manager", "care_worker", "family", "other"])
    }
}
