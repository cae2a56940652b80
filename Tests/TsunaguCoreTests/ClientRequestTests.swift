import Foundation
import Testing
import TsunaguCore

@Suite struct ClientRequestTests {
    let timeline = "tl_abcdefghijklmnopqrst"
    let uuid = "6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4B"

    @Test func parsesEveryRequestType() throws {
        let tl = TimelineID(timeline)!
        #expect(try ClientRequest.parse(#"{"type":"auth","id":1,"token":"abc"}"#).command == .auth(token: "abc"))
        #expect(try ClientRequest.parse(#"{"type":"subscribe","id":2,"timeline":"\#(timeline)","since":5}"#).command
                == .subscribe(timeline: tl, since: 5))
        #expect(try ClientRequest.parse(#"{"type":"subscribe","id":2,"timeline":"\#(timeline)","since":null}"#).command
                == .subscribe(timeline: tl, since: nil))
        #expect(try ClientRequest.parse(#"{"type":"subscribe","id":2,"timeline":"\#(timeline)"}"#).command
                == .subscribe(timeline: tl, since: nil))
        #expect(try ClientRequest.parse(#"{"type":"unsubscribe","id":3,"timeline":"\#(timeline)"}"#).command
                == .unsubscribe(timeline: tl))
        #expect(try ClientRequest.parse(#"{"type":"post","id":4,"timeline":"\#(timeline)","body":"BP 132/80","client_msg_id":"\#(uuid)"}"#).command
                == .post(timeline: tl, body: "BP 132/80", clientMsgID: uuid.lowercased()))
        #expect(try ClientRequest.parse(#"{"type":"react","id":5,"timeline":"\#(timeline)","target_seq":3,"reaction":"👍","op":"add"}"#).command
                == .react(timeline: tl, targetSeq: 3, reaction: "👍", op: .add))
        #expect(try ClientRequest.parse(#"{"type":"read","id":6,"timeline":"\#(timeline)","seq":9}"#).command
                == .read(timeline: tl, seq: 9))
        #expect(try ClientRequest.parse(#"{"type":"call","id":7,"timeline":"\#(timeline)","call_id":"\#(uuid)","op":"end"}"#).command
                == .call(timeline: tl, callID: uuid.lowercased(), op: .end))
        #expect(try ClientRequest.parse(#"{"type":"ping","id":8}"#) == ClientRequest(id: 8, command: .ping))
    }

    /// Each malformed request fails with the contract's code and, where the id was readable, `re`.
    @Test(arguments: [
        (#"{bad"#, nil, WireErrorCode.badRequest, "malformed JSON"),
        (#"[1,2]"#, nil, .badRequest, "a request must be a JSON object"),
        (#"{"type":"ping"}"#, nil, .badRequest, "id: required integer"),
        (#"{"type":"ping","id":"7"}"#, nil, .badRequest, "id: required integer"),
        (#"{"id":7}"#, 7, .badRequest, "type: required string"),
        (#"{"type":"dance","id":7}"#, 7, .badRequest, "type: unknown request type"),
        (#"{"type":"subscribe","id":7,"timeline":"u_abc"}"#, 7, .badRequest, "timeline: not a timeline id"),
        (#"{"type":"subscribe","id":7,"timeline":"tl_abc","since":-1}"#, 7, .badRequest, "since: a non-negative integer or null"),
        (#"{"type":"subscribe","id":7,"timeline":"tl_abc","since":"x"}"#, 7, .badRequest, "since: a non-negative integer or null"),
        (#"{"type":"post","id":7,"timeline":"tl_abc","body":"","client_msg_id":"6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4B"}"#, 7, .badRequest, "body: must not be empty"),
        (#"{"type":"post","id":7,"timeline":"tl_abc","body":"x","client_msg_id":"not-a-uuid"}"#, 7, .badRequest, "client_msg_id: must be a UUID"),
        (#"{"type":"react","id":7,"timeline":"tl_abc","target_seq":1,"reaction":"ack","op":"toggle"}"#, 7, .badRequest, #"op: must be "add" or "remove""#),
        (#"{"type":"call","id":7,"timeline":"tl_abc","call_id":"6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4B","op":"pause"}"#, 7, .badRequest, #"op: must be "start" or "end""#),
        (#"{"type":"read","id":7,"timeline":"tl_abc"}"#, 7, .badRequest, "seq: required non-negative integer"),
    ] as [(String, Int64?, WireErrorCode, String)])
    func rejectsMalformed(text: String, re: Int64?, code: WireErrorCode, message: String) {
        #expect(throws: RequestError(re: re, code: code, message: message)) { try ClientRequest.parse(text) }
    }

    /// The hand-written UUID check accepts exactly what Foundation's `UUID(uuidString:)` accepts.
    @Test(arguments: [
        "6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4B", "6f1b4a2c-3d5e-4f60-8a7b-9c0d1e2f3a4b", "6f1B4a2C-3d5E-4F60-8a7b-9C0d1E2f3A4b",
        "00000000-0000-0000-0000-000000000000", "6F1B4A2C3D5E4F608A7B9C0D1E2F3A4B", "{6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4B}",
        "6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4", "6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4BC", "6G1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4B",
        "6F1B4A2C_3D5E-4F60-8A7B-9C0D1E2F3A4B", "6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4Ｂ",
        "urn:uuid:6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4B", "",
    ])
    func uuidsAreCheckedLikeFoundation(candidate: String) {
        #expect(callID(candidate) == UUID(uuidString: candidate)?.uuidString.lowercased())
    }

    /// Foundation on Linux reads hex pairs leniently (" 6F1B…3A4" becomes "6f1b…3a04"); a UUID
    /// is exactly 36 characters of 8-4-4-4-12 hex, so such text is refused.
    @Test func uuidsAreNotReadLeniently() {
        #expect(callID(" 6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A4") == nil)
        #expect(callID("6F1B4A2C-3D5E-4F60-8A7B-9C0D1E2F3A 4") == nil)
    }

    private func callID(_ candidate: String) -> String? {
        let text = #"{"type":"call","id":1,"timeline":"\#(timeline)","call_id":"\#(candidate)","op":"start"}"#
        if case .call(_, let callID, _)? = try? ClientRequest.parse(text).command { return callID }
        return nil
    }

    @Test func bodyLimitCountsCharacters() throws {
        let max = String(repeating: "あ", count: 16_384)
        #expect(throws: Never.self) {
            try ClientRequest.parse(#"{"type":"post","id":1,"timeline":"\#(timeline)","body":"\#(max)","client_msg_id":"\#(uuid)"}"#)
        }
        let over = max + "a"
        #expect(throws: RequestError(re: 1, code: .tooLarge, message: "body: longer than 16384 characters")) {
            try ClientRequest.parse(#"{"type":"post","id":1,"timeline":"\#(timeline)","body":"\#(over)","client_msg_id":"\#(uuid)"}"#)
        }
    }

    @Test func reactionMustBeShortAndPrintable() {
        let long = String(repeating: "a", count: 33)
        #expect(throws: RequestError.self) {
            try ClientRequest.parse(#"{"type":"react","id":1,"timeline":"\#(timeline)","target_seq":1,"reaction":"\#(long)","op":"add"}"#)
        }
        #expect(throws: RequestError.self) {
            try ClientRequest.parse(#"{"type":"react","id":1,"timeline":"\#(timeline)","target_seq":1,"reaction":"a\u0007","op":"add"}"#)
        }
    }
}
