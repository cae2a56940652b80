import NIOCore
import Testing
import TsunaguClient

@Suite("JSONValue")
struct JSONValueTests {
    @Test("literals, accessors and a compact, sorted serialization")
    func literalsAndSerialization() throws {
        let id = "tl_1"
        let value: JSONValue = ["type": "post", "timeline": .string(id), "seq": 3, "ok": true, "none": nil,
                                "ratio": 0.5, "list": [1, "two"], "nested": ["a": "b"]]
        #expect(value["seq"]?.intValue == 3)
        #expect(value["timeline"]?.stringValue == "tl_1")
        #expect(value["nested"]?.objectValue == ["a": "b"])
        #expect(value["list"]?.arrayValue?.count == 2)
        #expect(value["list"]?[1]?.stringValue == "two")
        #expect(value["none"]?.isNull == true)
        #expect(value["ratio"]?.intValue == nil)
        #expect(value.serialized()
            == #"{"list":[1,"two"],"nested":{"a":"b"},"none":null,"ok":true,"ratio":0.5,"seq":3,"timeline":"tl_1","type":"post"}"#)
    }

    @Test("parse round-trips escapes, unicode and numbers")
    func parseRoundTrip() throws {
        let text = #"{"s":"a\"b\\c\n\u00e9\ud83d\ude00 日本","n":-12,"big":9007199254740991,"f":1.5e3,"e":[],"o":{}}"#
        let value = try JSONValue.parse(text)
        #expect(value["s"]?.stringValue == "a\"b\\c\né😀 日本")
        #expect(value["n"]?.intValue == -12)
        #expect(value["big"]?.intValue == 9_007_199_254_740_991)
        #expect(value["f"]?.doubleValue == 1500)
        #expect(try JSONValue.parse(value.serialized()) == value)
    }

    @Test("malformed input throws", arguments: ["", "{", "{\"a\":}", "[1,]", "tru", "{\"a\":1} x", "\"\u{01}\"", "01", "{'a':1}"])
    func malformed(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test("Codable agrees with the parser")
    func codable() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", nil, false]]
        let json = value.serialized()
        #expect(try JSONValue.parse(json) == value)
    }
}

@Suite("MessageFields")
struct MessageFieldsTests {
    @Test("picks top-level fields and skips nested ones")
    func scan() throws {
        let text = #"{"type":"event","timeline":"tl_9","seq":42,"kind":"message","author":{"id":"u","seq":7,"name":"x"},"body":"load 0-1 123","extra":[1,{"re":5}]}"#
        let f = try #require(MessageFields.scan(ByteBuffer(string: text)))
        #expect(f.type == "event")
        #expect(f.timeline == "tl_9")
        #expect(f.seq == 42)
        #expect(f.body == "load 0-1 123")
        #expect(f.re == nil)
        let ok = try #require(MessageFields.scan(#" { "type" : "ok" , "re" : 3, "head": 10, "receipts": [] } "#))
        #expect(ok.re == 3)
        #expect(ok.head == 10)
        #expect(MessageFields.scan("not json") == nil)
        #expect(MessageFields.scan("[1]") == nil)
    }
}

@Suite("LossChecker")
struct LossCheckerTests {
    @Test("in-order delivery up to the highest ack passes")
    func inOrder() {
        var t = SeqTracker(after: 10)
        for s in 11...20 { t.record(s) }
        #expect(t.has(15))
        #expect(!t.has(10))
        let report = LossChecker.check([(timeline: "a", tracker: t)], highestAcked: ["a": 20])
        #expect(report.passed)
        #expect(report == LossReport(subscriptions: 1))
    }

    @Test("an acknowledged seq that never arrived is missing")
    func missingTail() {
        var t = SeqTracker(after: 0)
        for s in 1...5 { t.record(s) }
        let report = LossChecker.check(t, highestAcked: 8)
        #expect(report.missing == 3)
        #expect(!report.passed)
    }

    @Test("a gap below what arrived is missing, even without acks")
    func gap() {
        var t = SeqTracker(after: 0)
        for s in [1, 2, 5, 6] { t.record(s) }
        #expect(LossChecker.check(t, highestAcked: nil).missing == 2)
        #expect(t.outOfOrder == 0)
    }

    @Test("late seqs are out of order, repeats are duplicates")
    func orderAndDuplicates() {
        var t = SeqTracker(after: 3)
        for s in [4, 6, 5, 7, 7, 4, 2] { t.record(s) }
        #expect(t.outOfOrder == 1)       // 5 after 6
        #expect(t.duplicates == 3)       // 7 again, 4 again, 2 ≤ after
        #expect(t.contiguousThrough == 7)
        #expect(t.received == 4)
        let report = LossChecker.check(t, highestAcked: 7)
        #expect(report.missing == 0)
        #expect(report == LossReport(missing: 0, duplicates: 3, outOfOrder: 1, subscriptions: 1))
    }

    @Test("acks are per timeline and reports add up")
    func perTimeline() {
        var a = SeqTracker(after: 0)
        var b = SeqTracker(after: 100)
        for s in 1...3 { a.record(s) }
        for s in 101...102 { b.record(s) }
        let report = LossChecker.check([(timeline: "a", tracker: a), (timeline: "b", tracker: b)],
                                       highestAcked: ["a": 3, "b": 105, "c": 9])
        #expect(report.missing == 3)
        #expect(report.subscriptions == 2)
    }

    @Test("acks at or below the subscription start are not required")
    func ackBeforeStart() {
        let t = SeqTracker(after: 50)
        #expect(LossChecker.check(t, highestAcked: 40).passed)
    }
}
