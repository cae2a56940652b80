/// Why a JSON text was rejected, and the byte offset where the parser stopped.
public struct JSONParseError: Error, CustomStringConvertible, Sendable, Equatable {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }
}

/// A strict RFC 8259 parser over raw UTF-8 bytes: every request frame the node receives goes through
/// it (`ClientRequest.parse`), so it works in place on the frame's bytes and allocates only for the
/// values it builds.
///
/// What it accepts is exactly RFC 8259 `JSON-text`, with these choices where the RFC leaves room:
/// - §2: whitespace is space, tab, LF and CR only (no BOM); any value may stand at the top level;
///   nothing but whitespace may follow it.
/// - §4: "The names within an object SHOULD be unique" — duplicates are accepted and the **last**
///   one wins, as with Foundation's `JSONDecoder`.
/// - §6: a number without fraction or exponent that fits `Int64` is `.int`, so ids and seqs stay
///   exact; any other number is `.double`. "-0" is the integer 0. A number whose magnitude
///   overflows `Double` is rejected ("an implementation may set limits on the range").
/// - §7: control characters (U+0000…U+001F) must be escaped; a `\u` escape of a high surrogate must
///   be followed by one of a low surrogate, and a lone low surrogate is rejected.
/// - §8.1: the text must be valid UTF-8 (checked inside strings; outside them any non-ASCII byte is
///   already a syntax error).
/// - §9: nesting deeper than `maxDepth` arrays/objects is rejected, which bounds the recursion.
///
/// `package` so that `TsunaguClient.MessageFields` can pick a few top-level fields out of a message
/// without building the rest (`matchKey`, `skipValue`).
package struct JSONParser {
    package let bytes: UnsafeRawBufferPointer
    package var i = 0
    private var depth = 0
    package static let maxDepth = 512

    package init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Parses one complete JSON text.
    package static func parseDocument(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        var p = JSONParser(bytes)
        p.skipWhitespace()
        let value = try p.parseValue()
        p.skipWhitespace()
        guard p.i == bytes.count else { throw p.error("trailing characters") }
        return value
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: i, reason: reason) }

    package var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    package mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    package mutating func expect(_ byte: UInt8) throws(JSONParseError) {
        guard i < bytes.count, bytes[i] == byte else {
            throw error(i < bytes.count ? "expected '\(Character(Unicode.Scalar(byte)))'" : "unexpected end")
        }
        i += 1
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let n = literal.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw error("unexpected end") }
        let p = literal.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { throw error("invalid literal") }
        i += n
    }

    private mutating func enter() throws(JSONParseError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth)") }
    }

    // MARK: Values

    package mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard i < bytes.count else { throw error("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return .object(try parseObject())
        case UInt8(ascii: "["): return .array(try parseArray())
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        default: return try parseNumber()
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> [JSONValue] {
        i += 1  // "["
        try enter()
        defer { depth -= 1 }
        var array: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { i += 1; return array }
        while true {
            skipWhitespace()
            array.append(try parseValue())
            skipWhitespace()
            if peek == UInt8(ascii: ",") { i += 1; continue }  // a "]" right after "," fails in parseValue
            try expect(UInt8(ascii: "]"))
            return array
        }
    }

    private mutating func parseObject() throws(JSONParseError) -> [String: JSONValue] {
        i += 1  // "{"
        try enter()
        defer { depth -= 1 }
        // Requests have about six members: sized once rather than grown and rehashed three times.
        var object = [String: JSONValue](minimumCapacity: 8)
        skipWhitespace()
        if peek == UInt8(ascii: "}") { i += 1; return object }
        while true {
            skipWhitespace()
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            object[key] = try parseValue()  // a duplicate name replaces the earlier value
            skipWhitespace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "}"))
            return object
        }
    }

    // MARK: Strings

    package mutating func parseString() throws(JSONParseError) -> String {
        try expect(UInt8(ascii: "\""))
        let start = i
        // Fast path: no escapes, so the string is the bytes between the quotes.
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let s = try makeString(start, i)
                i += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character in string") }
            i += 1
        }
        return try parseEscapedString(prefix: start)
    }

    /// The slow path, from the first backslash: unescapes into a buffer, then validates it as UTF-8.
    private mutating func parseEscapedString(prefix start: Int) throws(JSONParseError) -> String {
        var buffer = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        buffer.reserveCapacity(buffer.count + 16)
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                guard let s = String(validating: buffer, as: UTF8.self) else { throw error("invalid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                i += 1
                guard i < bytes.count else { throw error("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): buffer.append(0x22)
                case UInt8(ascii: "\\"): buffer.append(0x5C)
                case UInt8(ascii: "/"): buffer.append(0x2F)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"): appendUTF8(try parseUnicodeEscape(), to: &buffer)
                default: throw error("invalid escape")
                }
            default:
                if b < 0x20 { throw error("control character in string") }
                buffer.append(b)
                i += 1
            }
        }
        throw error("unterminated string")
    }

    /// RFC 8259 §7: a character outside the BMP is escaped as a UTF-16 surrogate pair; a surrogate
    /// on its own is not a character, so it is rejected.
    private mutating func parseUnicodeEscape() throws(JSONParseError) -> Unicode.Scalar {
        let unit = try parseHex4()
        switch unit {
        case 0xD800...0xDBFF:
            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                throw error("unpaired surrogate")
            }
            i += 2
            let low = try parseHex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate") }
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
        case 0xDC00...0xDFFF:
            throw error("unpaired surrogate")
        default:
            return Unicode.Scalar(unit)!
        }
    }

    private func appendUTF8(_ scalar: Unicode.Scalar, to buffer: inout [UInt8]) {
        let v = scalar.value
        switch v {
        case ..<0x80:
            buffer.append(UInt8(v))
        case ..<0x800:
            buffer.append(UInt8(0xC0 | v >> 6))
            buffer.append(UInt8(0x80 | v & 0x3F))
        case ..<0x10000:
            buffer.append(UInt8(0xE0 | v >> 12))
            buffer.append(UInt8(0x80 | v >> 6 & 0x3F))
            buffer.append(UInt8(0x80 | v & 0x3F))
        default:
            buffer.append(UInt8(0xF0 | v >> 18))
            buffer.append(UInt8(0x80 | v >> 12 & 0x3F))
            buffer.append(UInt8(0x80 | v >> 6 & 0x3F))
            buffer.append(UInt8(0x80 | v & 0x3F))
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    private func makeString(_ from: Int, _ to: Int) throws(JSONParseError) -> String {
        guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self) else {
            throw JSONParseError(offset: from, reason: "invalid UTF-8")
        }
        return s
    }

    // MARK: Numbers

    private static func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }

    /// RFC 8259 §6: `[ minus ] int [ frac ] [ exp ]`, where `int` is `0` or starts with 1…9.
    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = i
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < bytes.count, Self.isDigit(bytes[i]) else {
            throw error(i < bytes.count ? "unexpected character" : "unexpected end")
        }
        // Accumulate the integer part negatively: Int64.min has no positive counterpart.
        var integer: Int64 = 0
        var fitsInt64 = true
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < bytes.count, Self.isDigit(bytes[i]) {
                if fitsInt64 {
                    let (times10, o1) = integer.multipliedReportingOverflow(by: 10)
                    let (next, o2) = times10.subtractingReportingOverflow(Int64(bytes[i] &- UInt8(ascii: "0")))
                    if o1 || o2 { fitsInt64 = false } else { integer = next }
                }
                i += 1
            }
        }
        var isInteger = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < bytes.count, Self.isDigit(bytes[i]) else { throw error("digit expected after '.'") }
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, Self.isDigit(bytes[i]) else { throw error("digit expected in exponent") }
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
        }
        if isInteger && fitsInt64 {
            if negative { return .int(integer) }
            if integer != .min { return .int(-integer) }
        }
        // Rare on the wire: let the standard library round the text to the nearest Double.
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw JSONParseError(offset: start, reason: "number out of range")
        }
        return .double(d)
    }

    // MARK: Scanning without building

    /// Consumes `"key"` at the cursor if the string there is exactly `key` (no escapes in `key`).
    package mutating func matchKey(_ key: StaticString) -> Bool {
        let n = key.utf8CodeUnitCount
        guard i + n + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\""), bytes[i + n + 1] == UInt8(ascii: "\"") else {
            return false
        }
        let p = key.utf8Start
        for k in 0..<n where bytes[i + 1 + k] != p[k] { return false }
        i += n + 2
        return true
    }

    /// Skips one string without building it: checks the structure, not the escapes or the UTF-8.
    package mutating func skipString() throws(JSONParseError) {
        try expect(UInt8(ascii: "\""))
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; return }
            if b == UInt8(ascii: "\\") { i += 2; continue }
            if b < 0x20 { throw error("control character in string") }
            i += 1
        }
        throw error("unterminated string")
    }

    /// Skips one value without building it (its strings are checked as loosely as `skipString`).
    package mutating func skipValue() throws(JSONParseError) {
        guard i < bytes.count else { throw error("unexpected end") }
        let c = bytes[i]
        switch c {
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            i += 1
            try enter()
            defer { depth -= 1 }
            skipWhitespace()
            if peek == close { i += 1; return }
            while true {
                skipWhitespace()
                if close == UInt8(ascii: "}") {
                    try skipString()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                    skipWhitespace()
                }
                try skipValue()
                skipWhitespace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                try expect(close)
                return
            }
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        default: _ = try parseNumber()
        }
    }
}
