import Foundation
import Testing
import TsunaguCore

@Suite struct ServerMessageTests {
    let author = Person(id: UserID("u_sato")!, name: "Sato \"Hanako\"\n")
    let timeline = TimelineID("tl_abc")!

    @Test func eventMatchesTheContractExample() throws {
        let event = TimelineEvent(timeline: timeline, seq: 42, atMillis: 1_795_738_502_117, author: author,
                                  payload: .message(body: "BP 132/80 after lunch", clientMsgID: "c1"))
        let bytes = ServerMessage.event(event, time: .japan)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["type"] as? String == "event")
        #expect(object["seq"] as? Int == 42)
        #expect(object["kind"] as? String == "message")
        #expect(object["at"] as? String == "2026-11-27T09:15:02.117+09:00")
        #expect((object["author"] as? [String: Any])?["name"] as? String == "Sato \"Hanako\"\n")
        #expect(object["body"] as? String == "BP 132/80 after lunch")
        #expect(object["client_msg_id"] as? String == "c1")
    }

    @Test func callEndCarriesStartAndDuration() throws {
        let event = TimelineEvent(timeline: timeline, seq: 7, atMillis: 1_000_000, author: author,
                                  payload: .call(callID: "k", op: .end, startedAtMillis: 940_000, durationSeconds: 60))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(ServerMessage.event(event, time: .japan))) as? [String: Any])
        #expect(object["duration_s"] as? Int == 60)
        #expect(object["started_at"] as? String == "1970-01-01T09:15:40.000+09:00")
    }

    @Test func jsonWriterEscapesControlCharacters() {
        var w = JSONWriter()
        w.beginObject()
        w.field("k", "a\u{01}b\\c\"d\te")
        w.endObject()
        #expect(w.string == #"{"k":"a\u0001b\\c\"d\te"}"#)
    }

    @Test func errorOmitsReWhenUnknown() {
        let text = String(decoding: ServerMessage.error(re: nil, code: .badRequest, message: "malformed JSON"), as: UTF8.self)
        #expect(text == #"{"type":"error","code":"bad_request","message":"malformed JSON"}"#)
    }
}
