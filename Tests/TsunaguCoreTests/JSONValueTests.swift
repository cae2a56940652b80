import Testing
import TsunaguCore

@Suite struct JSONValueTests {
    // MARK: Valid documents

    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue.parse(#" {"n":null,"t":true,"f":false,"i":42,"d":0.25,"s":"x","a":[1,[]],"o":{"k":{}}} "#)
        #expect(value == ["n": nil, "t": true, "f": false, "i": 42, "d": 0.25, "s": "x", "a": [1, []], "o": ["k": [:]]])
        // RFC 8259 §2: any value may be the whole text, surrounded by space, tab, LF or CR.
        #expect(try JSONValue.parse("\t\r\n 7 \n") == .int(7))
        #expect(try JSONValue.parse(#""only a string""#) == "only a string")
        #expect(try JSONValue.parse("null") == .null)
    }

    @Test func integersStayExactAndOthersAreDoubles() throws {
        #expect(try JSONValue.parse("9223372036854775807") == .int(Int64.max))
        #expect(try JSONValue.parse("-9223372036854775808") == .int(Int64.min))
        #expect(try JSONValue.parse("9007199254740993") == .int(9_007_199_254_740_993))  // not a Double
        #expect(try JSONValue.parse("9223372036854775808") == .double(9.223372036854775808e18))
        #expect(try JSONValue.parse("-9223372036854775809") == .double(-9.223372036854775809e18))
        #expect(try JSONValue.parse("0") == .int(0))
        #expect(try JSONValue.parse("-0") == .int(0))
        let negativeZero = try #require(try JSONValue.parse("-0.0").doubleValue)
        #expect(negativeZero == 0 && negativeZero.sign == .minus)
        #expect(try JSONValue.parse("1.0") == .double(1))
        #expect(try JSONValue.parse("1e3") == .double(1000))
        #expect(try JSONValue.parse("1E+3") == .double(1000))
        #expect(try JSONValue.parse("-2.5e-3") == .double(-0.0025))
        #expect(try JSONValue.parse("1e-400") == .double(0))  // underflow rounds to zero
    }

    @Test func intValueReadsIntegralDoublesBelow9e15() throws {
        #expect(JSONValue.double(7).intValue == 7)
        #expect(JSONValue.double(7).int64Value == 7)
        #expect(JSONValue.double(7.5).intValue == nil)
        #expect(JSONValue.double(8.9e15).int64Value == 8_900_000_000_000_000)
        #expect(JSONValue.double(9e15).int64Value == nil)
        #expect(JSONValue.int(Int64.max).int64Value == .max)
        #expect(JSONValue.int(3).doubleValue == 3)
        #expect(JSONValue.string("3").intValue == nil)
    }

    @Test func unescapesStrings() throws {
        #expect(try JSONValue.parse(#""\"\\\/\b\f\n\r\t""#) == "\"\\/\u{08}\u{0C}\n\r\t")
        #expect(try JSONValue.parse(#""\u00e9\u65E5\u0000""#) == "é日\u{0}")
        #expect(try JSONValue.parse(#""\ud83d\ude00 and 😀""#) == "😀 and 😀")  // a surrogate pair is one scalar
        #expect(try JSONValue.parse(#""日本語 \u0041""#) == "日本語 A")
        #expect(try JSONValue.parse("\"\u{7F}\"") == "\u{7F}")  // DEL is not a control character in §7
    }

    /// RFC 8259 §4 leaves duplicate names open; the last one wins, as with Foundation's JSONDecoder.
    @Test func duplicateNamesLastOneWins() throws {
        #expect(try JSONValue.parse(#"{"id":1,"id":2}"#) == ["id": 2])
        #expect(try JSONValue.parse(#"{"a":{"x":1},"b":0,"a":"y"}"#) == ["a": "y", "b": 0])
    }

    // MARK: Rejections

    @Test(arguments: [
        ("", "unexpected end"), ("   ", "unexpected end"), ("{", "unexpected end"),
        // trailing commas and missing pieces
        ("[1,]", "unexpected character"), (#"{"a":1,}"#, "expected '\"'"), ("[,1]", "unexpected character"),
        (#"{"a":}"#, "unexpected character"), (#"{"a" 1}"#, "expected ':'"), ("[1 2]", "expected ']'"),
        (#"{a:1}"#, "expected '\"'"), ("{'a':1}", "expected '\"'"),
        // numbers: leading zeros, signs, bare points and exponents, out of range
        ("01", "trailing characters"), ("[-01]", "expected ']'"), ("+1", "unexpected character"),
        (".5", "unexpected character"), ("1.", "digit expected after '.'"), ("1.e3", "digit expected after '.'"),
        ("1e", "digit expected in exponent"), ("1e+", "digit expected in exponent"), ("-", "unexpected end"),
        ("-a", "unexpected character"), ("1e400", "number out of range"), ("NaN", "unexpected character"),
        ("Infinity", "unexpected character"),
        // literals
        ("tru", "unexpected end"), ("nul", "unexpected end"), ("True", "unexpected character"), ("nulL", "invalid literal"),
        // strings: control characters, escapes, surrogates
        ("\"a\u{01}b\"", "control character in string"), ("\"tab\there\"", "control character in string"),
        ("\"\\n\u{0A}\"", "control character in string"), (#""\x41""#, "invalid escape"), (#""\u12zz""#, "invalid hex digit"),
        (#""\u12"#, "short \\u escape"), (#""\ud83d""#, "unpaired surrogate"), (#""\ud83dx""#, "unpaired surrogate"),
        (#""\ud83d\u0041""#, "unpaired surrogate"), (#""\ude00""#, "unpaired surrogate"), (#""abc"#, "unterminated string"),
        (#""a\"#, "unterminated escape"),
        // trailing garbage, a second value, a byte-order mark
        (#"{"a":1} x"#, "trailing characters"), ("1 2", "trailing characters"), ("{}{}", "trailing characters"),
        ("\u{FEFF}{}", "unexpected character"),
    ] as [(String, String)])
    func rejects(text: String, reason: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
        do {
            _ = try JSONValue.parse(text)
        } catch {
            #expect(error.reason == reason, "\(text.debugDescription)")
        }
    }

    @Test(arguments: [
        [0x22, 0xFF, 0x22],  // never valid in UTF-8
        [0x22, 0xC3, 0x22],  // truncated two-byte sequence
        [0x22, 0xC0, 0xAF, 0x22],  // overlong "/"
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // a surrogate encoded directly
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
        [0x22, 0x5C, 0x6E, 0xFF, 0x22],  // after an escape (the slow path)
    ] as [[UInt8]])
    func rejectsInvalidUTF8(bytes: [UInt8]) {
        #expect(throws: JSONParseError(offset: bytes.starts(with: [0x22, 0x5C]) ? 5 : 1, reason: "invalid UTF-8")) {
            try JSONValue.parse(bytes)
        }
    }

    @Test func rejectsNonASCIIOutsideStrings() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x5B, 0xC2, 0xA0, 0x31, 0x5D] as [UInt8]) }  // NBSP
    }

    @Test func nestingIsLimited() throws {
        let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { try JSONValue.parse(deepest) }
        let tooDeep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(throws: JSONParseError(offset: 513, reason: "nesting deeper than 512")) { try JSONValue.parse(tooDeep) }
        let objects = String(repeating: #"{"a":"#, count: 513) + "1" + String(repeating: "}", count: 513)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(objects) }
        // Far deeper input fails at the limit, not with a stack overflow.
        #expect(throws: JSONParseError.self) { try JSONValue.parse(String(repeating: "[", count: 1_000_000)) }
    }

    // MARK: Writing

    @Test func serializesCompactlyWithSortedKeys() {
        let value: JSONValue = ["type": "post", "seq": 3, "ratio": 0.5, "whole": 100.0, "none": nil, "ok": true,
                                "list": [1, "two", []], "nested": ["b": 2, "a": 1], "text": "q\"\\\n\u{01}日本"]
        #expect(value.serialized() == #"{"list":[1,"two",[]],"nested":{"a":1,"b":2},"none":null,"ok":true,"#
            + #""ratio":0.5,"seq":3,"text":"q\"\\\n\u0001日本","type":"post","whole":100.0}"#)
        #expect(JSONValue.double(.nan).serialized() == "null")
        #expect(JSONValue.double(-.infinity).serialized() == "null")
        #expect("\(JSONValue.string("a\"b"))" == #""a\"b""#)
    }

    @Test(arguments: [
        JSONValue.int(Int64.max), .int(Int64.min), .int(Int64(0)), .double(-0.0), .double(0.1), .double(1e20), .double(1e-7),
        .double(5e-324), .double(.greatestFiniteMagnitude), .double(123_456_789.125), .double(3),
        .string("😀 \u{0} \u{1F} \"\\/ 日本"), .string(""), .array([]), .object([:]),
        ["id": 7, "body": "x", "list": [1.5, nil, false, ["deep": [[]]]]],
    ])
    func roundTrips(value: JSONValue) throws {
        let text = value.serialized()
        let back = try JSONValue.parse(text)
        #expect(back == value, "\(text)")
        if case .double(let d) = value, case .double(let e) = back { #expect(d.sign == e.sign) }
    }

    @Test func parsesBytesFromAnyCollection() throws {
        let text = #"{"a":[1,2]}"#
        #expect(try JSONValue.parse(Array(text.utf8)) == ["a": [1, 2]])
        #expect(try JSONValue.parse(text.utf8) == ["a": [1, 2]])
        #expect(try JSONValue.parse(Array(text.utf8)[...].lazy.map { $0 }) == ["a": [1, 2]])  // not contiguous
    }
}
