/// A JSON object: what every Tsunagu message is.
public typealias JSONObject = [String: JSONValue]

/// A minimal JSON value. Numbers are kept as `Double` (every integer the protocol uses — seqs, ids,
/// counts — is far below 2^53, so it round-trips exactly and serializes without a fraction).
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

// MARK: - Accessors

extension JSONValue {
    /// The integer value of a number with no fractional part that fits in `Int`; otherwise nil.
    public var intValue: Int? {
        guard case .number(let d) = self, d.isFinite, d.rounded() == d, abs(d) <= 9_007_199_254_740_992 else {
            return nil
        }
        return Int(d)
    }
    public var doubleValue: Double? {
        if case .number(let d) = self { return d }
        return nil
    }
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
    /// `value["key"]` on an object; nil for any other value or a missing key.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    /// `value[i]` on an array; nil for any other value or an index out of range.
    public subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByFloatLiteral,
    ExpressibleByStringInterpolation
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(stringInterpolation: DefaultStringInterpolation) { self = .string(String(stringInterpolation: stringInterpolation)) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var o = JSONObject(minimumCapacity: elements.count)
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
    /// `.int(3)`: a number from an `Int` variable (literals need no wrapper).
    public static func int(_ value: Int) -> JSONValue { .number(Double(value)) }
}

// MARK: - Codable

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else if let o = try? c.decode([String: JSONValue].self) {
            self = .object(o)
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

// MARK: - Text form

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text; object keys sorted so output is deterministic.
    public var description: String { serialized() }

    public func serialized() -> String {
        var out = ""
        JSONWriter.write(self, into: &out)
        return out
    }

    /// Parses one JSON text (UTF-8 bytes). Throws `JSONParseError` on malformed input or trailing bytes.
    public static func parse<Bytes: Collection>(_ bytes: Bytes) throws -> JSONValue where Bytes.Element == UInt8 {
        if let v = try bytes.withContiguousStorageIfAvailable({ try JSONParser.parseDocument(UnsafeRawBufferPointer($0)) }) {
            return v
        }
        return try Array(bytes).withUnsafeBytes { try JSONParser.parseDocument($0) }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try JSONParser.parseDocument(UnsafeRawBufferPointer($0)) }
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Compact JSON text of an object, keys sorted.
    public func jsonText() -> String { JSONValue.object(self).serialized() }
}

public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

enum JSONWriter {
    static func write(_ v: JSONValue, into out: inout String) {
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d): writeNumber(d, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += "," }
                write(e, into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                writeString(k, into: &out)
                out += ":"
                write(o[k]!, into: &out)
            }
            out += "}"
        }
    }

    static func writeNumber(_ d: Double, into out: inout String) {
        if !d.isFinite {
            out += "null"  // JSON has no NaN/Infinity
        } else if d.rounded() == d, abs(d) < 1e15 {
            out += String(Int64(d))
        } else {
            out += "\(d)"
        }
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// A strict RFC 8259 parser over raw UTF-8 bytes. Also used by `tsunagu-load` to pick a few
/// top-level fields out of a message without building the rest (`skipValue`).
struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    var i = 0
    var depth = 0
    static let maxDepth = 512

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    static func parseDocument(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
        var p = JSONParser(bytes)
        p.skipWhitespace()
        let v = try p.parseValue()
        p.skipWhitespace()
        guard p.i == bytes.count else { throw p.error("trailing characters") }
        return v
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: i, reason: reason) }

    var atEnd: Bool { i >= bytes.count }
    var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    mutating func expect(_ byte: UInt8) throws {
        guard i < bytes.count, bytes[i] == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
        i += 1
    }

    mutating func expectLiteral(_ lit: StaticString) throws {
        let n = lit.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw error("unexpected end") }
        let p = lit.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { throw error("invalid literal") }
        i += n
    }

    mutating func parseValue() throws -> JSONValue {
        guard let c = peek else { throw error("unexpected end") }
        switch c {
        case UInt8(ascii: "{"): return .object(try parseObject())
        case UInt8(ascii: "["):
            i += 1
            depth += 1
            guard depth <= Self.maxDepth else { throw error("nesting too deep") }
            defer { depth -= 1 }
            var a: [JSONValue] = []
            skipWhitespace()
            if peek == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                skipWhitespace()
                a.append(try parseValue())
                skipWhitespace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "]"))
                return .array(a)
            }
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        default: return .number(try parseNumber())
        }
    }

    mutating func parseObject() throws -> JSONObject {
        try expect(UInt8(ascii: "{"))
        depth += 1
        guard depth <= Self.maxDepth else { throw error("nesting too deep") }
        defer { depth -= 1 }
        var o = JSONObject()
        skipWhitespace()
        if peek == UInt8(ascii: "}") { i += 1; return o }
        while true {
            skipWhitespace()
            let k = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            o[k] = try parseValue()
            skipWhitespace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "}"))
            return o
        }
    }

    /// Skips one value without building it (validating structure loosely but safely).
    mutating func skipValue() throws {
        guard let c = peek else { throw error("unexpected end") }
        switch c {
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            i += 1
            depth += 1
            guard depth <= Self.maxDepth else { throw error("nesting too deep") }
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

    mutating func skipString() throws {
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

    /// Compares the string at the cursor with `key` (no escapes in `key`); on a match consumes it.
    mutating func matchKey(_ key: StaticString) -> Bool {
        let n = key.utf8CodeUnitCount
        guard i + n + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\""), bytes[i + n + 1] == UInt8(ascii: "\"") else {
            return false
        }
        let p = key.utf8Start
        for k in 0..<n where bytes[i + 1 + k] != p[k] { return false }
        i += n + 2
        return true
    }

    mutating func parseString() throws -> String {
        try expect(UInt8(ascii: "\""))
        let start = i
        // Fast path: no escapes.
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
        var buf = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                guard let s = String(validating: buf, as: UTF8.self) else { throw error("invalid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                i += 1
                guard let e = peek else { throw error("unterminated escape") }
                i += 1
                switch e {
                case UInt8(ascii: "\""): buf.append(0x22)
                case UInt8(ascii: "\\"): buf.append(0x5C)
                case UInt8(ascii: "/"): buf.append(0x2F)
                case UInt8(ascii: "b"): buf.append(0x08)
                case UInt8(ascii: "f"): buf.append(0x0C)
                case UInt8(ascii: "n"): buf.append(0x0A)
                case UInt8(ascii: "r"): buf.append(0x0D)
                case UInt8(ascii: "t"): buf.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard peek == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate")
                        }
                        i += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("unpaired surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                    buf.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw error("invalid escape")
                }
            default:
                if b < 0x20 { throw error("control character in string") }
                buf.append(b)
                i += 1
            }
        }
        throw error("unterminated string")
    }

    mutating func parseHex4() throws -> UInt32 {
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

    func makeString(_ from: Int, _ to: Int) throws -> String {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[from..<to])
        guard let s = String(validating: slice, as: UTF8.self) else { throw error("invalid UTF-8") }
        return s
    }

    mutating func parseNumber() throws -> Double {
        let start = i
        var isInteger = true
        if peek == UInt8(ascii: "-") { i += 1 }
        guard let first = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw error("unexpected character")
        }
        if first == UInt8(ascii: "0") {
            i += 1
        } else {
            while let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) { i += 1 }
        }
        if peek == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else { throw error("bad fraction") }
            while let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) { i += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else { throw error("bad exponent") }
            while let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) { i += 1 }
        }
        if isInteger, i - start <= 18 {
            var v: Int64 = 0
            var k = start
            let neg = bytes[k] == UInt8(ascii: "-")
            if neg { k += 1 }
            while k < i { v = v * 10 + Int64(bytes[k] - UInt8(ascii: "0")); k += 1 }
            return Double(neg ? -v : v)
        }
        guard let d = Double(try makeString(start, i)) else { throw error("bad number") }
        return d
    }
}
