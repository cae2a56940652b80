import Foundation
import Testing
import TsunaguClient
import TsunaguCore

/// Bad input gets the error the contract names, and the node stays up (docs/protocol.md §1, §5).
@Suite struct ProtocolLimitsTests {
    @Test func malformedJSONIsBadRequestAndTheConnectionStaysOpen() async throws {
        try await withLiveNode { live in
            let nurse = try await live.session(live.nurseToken)
            try await nurse.sendText("{not json")
            let error = try await nurse.nextPush()
            #expect(error["type"]?.stringValue == "error")
            #expect(error["code"]?.stringValue == "bad_request")
            #expect(error["re"] == nil)
            let wrongField = try await nurse.request(["type": "subscribe", "timeline": "u_not_a_timeline"])
            #expect(wrongField["code"]?.stringValue == "bad_request")
            #expect(wrongField["message"]?.stringValue == "timeline: not a timeline id")
            let unknown = try await nurse.request(["type": "dance"])
            #expect(unknown["code"]?.stringValue == "bad_request")
            #expect(try await nurse.request(["type": "ping"])["type"]?.stringValue == "ok")
        }
    }

    @Test func moreThanTwentyMalformedMessagesInAMinuteClose1008() async throws {
        try await withLiveNode { live in
            let nurse = try await live.session(live.nurseToken)
            for _ in 0..<21 { try await nurse.sendText("nope") }
            #expect(try await nurse.waitForClose() == 1008)
        }
    }

    @Test func anOversizedMessageCloses1009() async throws {
        try await withLiveNode { live in
            let nurse = try await live.session(live.nurseToken)
            try await nurse.sendText(String(repeating: "x", count: 70_000))
            #expect(try await nurse.waitForClose() == 1009)
        }
    }

    @Test func aBinaryFrameCloses1003() async throws {
        try await withLiveNode { live in
            let nurse = try await live.session(live.nurseToken)
            try await nurse.sendFrame(opcode: .binary, payload: [1, 2, 3])
            #expect(try await nurse.waitForClose() == 1003)
        }
    }

    @Test func invalidUTF8Closes1007() async throws {
        try await withLiveNode { live in
            let nurse = try await live.session(live.nurseToken)
            try await nurse.sendFrame(opcode: .text, payload: [0x7B, 0xC3, 0x28, 0x7D])
            #expect(try await nurse.waitForClose() == 1007)
        }
    }

    @Test func noAuthWithinTheTimeoutCloses4001() async throws {
        try await withLiveNode({ $0.authTimeout = .milliseconds(300) }) { live in
            let connection = try await live.connect()
            #expect(try await connection.waitForClose() == 4001)
        }
    }

    @Test func theNodeStillServesAfterAllOfThat() async throws {
        try await withLiveNode { live in
            for _ in 0..<3 {
                let c = try await live.session(live.nurseToken)
                try await c.sendFrame(opcode: .binary, payload: [0])
                _ = try await c.waitForClose()
            }
            let health = try await live.http.send("GET", "/healthz")
            #expect(health.status == 200)
            let nurse = try await live.session(live.nurseToken)
            #expect(try await nurse.subscribe(live.timeline)["type"]?.stringValue == "ok")
        }
    }
}
