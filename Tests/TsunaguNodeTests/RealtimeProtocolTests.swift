import Foundation
import Testing
import TsunaguClient
import TsunaguCore
@testable import TsunaguStore

/// docs/protocol.md §2–3 end to end: real node, real sockets, real WebSocket client.
@Suite struct RealtimeProtocolTests {
    @Test func aPostReachesTheOtherMember() async throws {
        try await withLiveNode { live in
            let doctor = try await live.session(live.ownerToken)
            let nurse = try await live.session(live.nurseToken)
            let subscribed = try await nurse.subscribe(live.timeline)
            #expect(subscribed["type"]?.stringValue == "ok")
            #expect(subscribed["head"]?.intValue == LiveNode.setupHead)
            let ack = try await doctor.post(live.timeline, "BP 132/80 after lunch")
            #expect(ack["type"]?.stringValue == "ok")
            #expect(ack["seq"]?.intValue == LiveNode.setupHead + 1)
            let event = try await nurse.nextEvent()
            #expect(event["seq"] == ack["seq"])
            #expect(event["kind"]?.stringValue == "message")
            #expect(event["body"]?.stringValue == "BP 132/80 after lunch")
            #expect(event["author"]?["name"]?.stringValue == "Dr. Ito")
            #expect(event["at"]?.stringValue?.hasSuffix("+09:00") == true)
            #expect(event["at"] == ack["at"])
        }
    }

    /// `auth` and `subscribe` are answered on the event loop when nothing waits, and through the
    /// connection's queue behind a slower request; either way every request is answered once, in
    /// the order sent.
    @Test func requestsSentBackToBackAreAnsweredInOrderWhateverPathTheyTake() async throws {
        try await withLiveNode { live in
            let connection = try await live.connect()
            let token = live.nurseToken
            let timeline = live.timeline.rawValue
            let sent: [(id: Int, text: String)] = [
                (1, #"{"type":"auth","id":1,"token":"not-a-live-token"}"#),
                (2, #"{"type":"auth","id":2,"token":"\#(token)"}"#),
                (3, #"{"type":"subscribe","id":3,"timeline":"\#(timeline)"}"#),
                (4, #"{"type":"ping","id":4}"#),
                (5, #"{"type":"unsubscribe","id":5,"timeline":"\#(timeline)"}"#),
                (6, #"{"type":"subscribe","id":6,"timeline":"\#(timeline)"}"#),
                (7, #"{"type":"subscribe","id":7,"timeline":"\#(timeline)"}"#),
                (8, #"{"type":"auth","id":8,"token":"\#(token)"}"#),
            ]
            for request in sent { try await connection.sendText(request.text) }
            var answers: [(re: Int?, type: String?, code: String?)] = []
            while answers.count < sent.count {
                let push = try await connection.nextPush()
                guard push["re"] != nil else { continue }  // an event or receipt push
                answers.append((push["re"]?.intValue, push["type"]?.stringValue, push["code"]?.stringValue))
            }
            #expect(answers.map(\.re) == sent.map(\.id))
            #expect(answers.map(\.type) == ["error", "ok", "ok", "ok", "ok", "ok", "error", "error"])
            #expect(answers[0].code == "unauthenticated")
            #expect(answers[6].code == "conflict")
            #expect(answers[7].code == "bad_request")
        }
    }

    /// Posts sent back to back are queued for the store together (`ClientSession.runPosts`) and
    /// still answered in the order sent, with seqs in that order: a refused post, a repeated
    /// `client_msg_id` and a request of another kind in the run change none of that.
    @Test func postsSentBackToBackAreAnsweredInOrderWithSeqsInOrder() async throws {
        try await withLiveNode { live in
            let connection = try await live.connect()
            try await connection.sendText(#"{"type":"auth","id":1,"token":"\#(live.ownerToken)"}"#)
            let timeline = live.timeline.rawValue
            func post(_ id: Int, to timeline: String, msg: String) -> String {
                #"{"type":"post","id":\#(id),"timeline":"\#(timeline)","body":"n\#(id)","client_msg_id":"\#(msg)"}"#
            }
            let msg = (0...41).map { _ in UUID().uuidString.lowercased() }
            var sent: [String] = []
            for id in 2...41 {
                switch id {
                case 9: sent.append(post(id, to: TimelineID.random().rawValue, msg: msg[id]))  // no such timeline
                case 20: sent.append(#"{"type":"ping","id":20}"#)
                case 30: sent.append(post(id, to: timeline, msg: msg[3]))  // a repeat of id 3
                default: sent.append(post(id, to: timeline, msg: msg[id]))
                }
            }
            let before = live.store.groupCommit.counts
            for text in sent { try await connection.sendText(text) }
            var answers: [Int: (type: String?, seq: Int?)] = [:]
            var order: [Int] = []
            while order.count < 41 {
                let push = try await connection.nextPush()
                guard let re = push["re"]?.intValue else { continue }
                order.append(re)
                answers[re] = (push["type"]?.stringValue, push["seq"]?.intValue)
            }
            #expect(order == Array(1...41))
            #expect(answers[9]?.type == "error" && answers[20]?.type == "ok" && answers[20]?.seq == nil)
            #expect(answers[30]?.seq == answers[3]?.seq)
            let fresh = (2...41).filter { ![9, 20, 30].contains($0) }
            #expect(fresh.compactMap { answers[$0]?.seq } == Array(LiveNode.setupHead + 1...LiveNode.setupHead + fresh.count))
            // One by one, each of the 39 posts waited for its own commit: 39 transactions, always.
            // Together they share commits; how many depends on how the frames arrive (a few when
            // they come in one read, 27 once at the busy start of a full test run).
            let after = live.store.groupCommit.counts
            #expect(after.operations - before.operations == 39)
            #expect(after.transactions - before.transactions < 39)
        }
    }

    @Test func resumingWithSinceDeliversExactlyTheMissedEventsInOrder() async throws {
        try await withLiveNode { live in
            let doctor = try await live.session(live.ownerToken)
            var nurse = try await live.session(live.nurseToken)
            _ = try await nurse.subscribe(live.timeline)
            let first = try await doctor.post(live.timeline, "before the drop")
            let seen = try #require(try await nurse.nextEvent()["seq"]?.intValue)
            #expect(seen == first["seq"]?.intValue)
            await nurse.close()
            var missed: [Int] = []
            for i in 0..<25 { missed.append(try #require(try await doctor.post(live.timeline, "missed \(i)")["seq"]?.intValue)) }
            nurse = try await live.session(live.nurseToken)
            let reply = try await nurse.subscribe(live.timeline, since: seen)
            #expect(reply["head"]?.intValue == missed.last)
            var received: [Int] = []
            for _ in missed { received.append(try #require(try await nurse.nextEvent()["seq"]?.intValue)) }
            #expect(received == missed)
            // then live again, with nothing repeated
            let after = try await doctor.post(live.timeline, "live again")
            #expect(try await nurse.nextEvent()["seq"] == after["seq"])
            #expect(try await nurse.expectSilence() == nil)
        }
    }

    @Test func aRetriedPostKeepsItsSeqAndCreatesOneEvent() async throws {
        try await withLiveNode { live in
            let doctor = try await live.session(live.ownerToken)
            _ = try await doctor.subscribe(live.timeline)
            let id = UUID().uuidString
            let first = try await doctor.post(live.timeline, "once", clientMsgID: id)
            _ = try await doctor.nextEvent()
            await doctor.close()
            let again = try await live.session(live.ownerToken)
            let retry = try await again.post(live.timeline, "once", clientMsgID: id.lowercased())
            #expect(retry["seq"] == first["seq"])
            #expect(retry["at"] == first["at"])
            let page = try await live.http.send("GET", "/v1/timelines/\(live.timeline.rawValue)/events?after=0",
                                                token: live.ownerToken)
            let messages = page.json?["events"]?.arrayValue?.filter { $0["kind"]?.stringValue == "message" }
            #expect(messages?.count == 1)
        }
    }

    /// A member ends only the calls they started; the owner ends any (issue 11's role matrix).
    @Test func aMemberEndsOnlyTheirOwnCallsAndTheOwnerAny() async throws {
        try await withLiveNode { live in
            let doctor = try await live.session(live.ownerToken)
            let nurse = try await live.session(live.nurseToken)
            let tl = JSONValue.string(live.timeline.rawValue)
            func call(_ connection: TsunaguConnection, _ id: String, _ op: String) async throws -> JSONObject {
                try await connection.request(["type": "call", "timeline": tl, "call_id": .string(id), "op": .string(op)])
            }
            let doctorsCall = UUID().uuidString, nursesCall = UUID().uuidString, another = UUID().uuidString
            #expect(try await call(doctor, doctorsCall, "start")["type"]?.stringValue == "ok")
            #expect(try await call(nurse, doctorsCall, "end")["code"]?.stringValue == "forbidden")
            #expect(try await call(doctor, doctorsCall, "end")["type"]?.stringValue == "ok")
            #expect(try await call(nurse, nursesCall, "start")["type"]?.stringValue == "ok")
            #expect(try await call(nurse, nursesCall, "end")["type"]?.stringValue == "ok")
            #expect(try await call(nurse, another, "start")["type"]?.stringValue == "ok")
            #expect(try await call(doctor, another, "end")["type"]?.stringValue == "ok", "the owner may end anyone's call")
        }
    }

    @Test func reactionsReceiptsAndCallsTravelLive() async throws {
        try await withLiveNode { live in
            let doctor = try await live.session(live.ownerToken)
            let family = try await live.session(live.familyToken)
            _ = try await family.subscribe(live.timeline)
            let message = try #require(try await doctor.post(live.timeline, "Please confirm the new dose")["seq"]?.intValue)
            _ = try await family.nextEvent()
            // a viewer may react and mark read, but not `ack` (a care decision)
            let ack = try await family.request(["type": "react", "timeline": .string(live.timeline.rawValue),
                                                "target_seq": .int(message), "reaction": "ack", "op": "add"])
            #expect(ack["code"]?.stringValue == "forbidden")
            let react = try await family.request(["type": "react", "timeline": .string(live.timeline.rawValue),
                                                  "target_seq": .int(message), "reaction": "👍", "op": "add"])
            #expect(react["type"]?.stringValue == "ok")
            let reaction = try await family.nextEvent()
            #expect(reaction["kind"]?.stringValue == "reaction")
            #expect(reaction["target_seq"]?.intValue == message)
            #expect(reaction["reaction"]?.stringValue == "👍")
            let read = try await family.request(["type": "read", "timeline": .string(live.timeline.rawValue), "seq": .int(message)])
            #expect(read["type"]?.stringValue == "ok")
            let receipt = try await family.nextPush()
            #expect(receipt["type"]?.stringValue == "receipt")
            #expect(receipt["user"]?.stringValue == live.family.id.rawValue)
            #expect(receipt["seq"]?.intValue == message)
            #expect(receipt["profession"]?.stringValue == "other", "receipts carry the reader's profession")
            let again = try await live.session(live.ownerToken)
            let markers = try #require(try await again.subscribe(live.timeline)["receipts"]?.arrayValue)
            #expect(markers.contains { $0["user"]?.stringValue == live.family.id.rawValue && $0["profession"]?.stringValue == "other" })
            // calls: start and end with duration
            let call = UUID().uuidString
            for op in ["start", "end"] {
                let reply = try await doctor.request(["type": "call", "timeline": .string(live.timeline.rawValue),
                                                      "call_id": .string(call), "op": .string(op)])
                #expect(reply["type"]?.stringValue == "ok")
                let event = try await family.nextEvent()
                #expect(event["kind"]?.stringValue == "call")
                #expect(event["op"]?.stringValue == op)
                if op == "end" {
                    // whole seconds since the start, a moment ago (more than 0 on a loaded machine)
                    #expect((0...5).contains(event["duration_s"]?.intValue ?? -1))
                    #expect(event["started_at"]?.stringValue != nil)
                }
            }
            // a later subscriber gets the current receipts with its ok
            let nurse = try await live.session(live.nurseToken)
            let subscribed = try await nurse.subscribe(live.timeline)
            let receipts = subscribed["receipts"]?.arrayValue ?? []
            #expect(receipts.contains { $0["user"]?.stringValue == live.family.id.rawValue && $0["seq"]?.intValue == message })
        }
    }

    @Test func compressedSubscribersReceiveTheSameEvents() async throws {
        try await withLiveNode { live in
            let doctor = try await live.session(live.ownerToken)
            let plain = try await live.session(live.nurseToken)
            let compressed = try await live.session(live.familyToken, compression: true)
            #expect(compressed.isCompressed)
            _ = try await plain.subscribe(live.timeline)
            _ = try await compressed.subscribe(live.timeline)
            let body = String(repeating: "血圧 132/80、食後。", count: 40)
            _ = try await doctor.post(live.timeline, body)
            let a = try await plain.nextEvent()
            let b = try await compressed.nextEvent()
            #expect(a == b)
            #expect(b["body"]?.stringValue == body)
        }
    }

    @Test func sinceBeyondTheHeadAsksTheClientToReset() async throws {
        try await withLiveNode { live in
            let nurse = try await live.session(live.nurseToken)
            let reply = try await nurse.subscribe(live.timeline, since: 999)
            #expect(reply["type"]?.stringValue == "ok")
            #expect(reply["reset"]?.boolValue == true)
            #expect(reply["head"]?.intValue == LiveNode.setupHead)
        }
    }

    @Test func pingAnswersWithTheTime() async throws {
        try await withLiveNode { live in
            let nurse = try await live.session(live.nurseToken)
            let pong = try await nurse.request(["type": "ping"])
            #expect(pong["type"]?.stringValue == "ok")
            #expect(pong["at"]?.stringValue?.hasSuffix("+09:00") == true)
        }
    }
}
