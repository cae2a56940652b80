/// A JSON object: what every Tsunagu message is.
public typealias JSONObject = [String: JSONValue]

/// A parsed JSON value. Requests are parsed into this first, then checked field by field, so that a
/// wrong field gets an error naming that field and still carrying the request's `id` (docs/protocol.md §2).
/// The client library and `tsunagu-load` use the same type for what they send and receive.
///
/// Integers stay exact: a number written without fraction or exponent that fits `Int64` is `.int`,
/// any other number `.double` (see `JSONParser` for the exact rules). `.int(3)` and `.double(3)`
/// are different values; `intValue` and `doubleValue` read either.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

// MARK: - Accessors

extension JSONValue {
    /// An `.int`, or a `.double` with no fractional part below 9e15 (where doubles are still exact
    /// integers) — so a client that writes `7.0` for an id is understood.
    public var int64Value: Int64? {
        switch self {
        case .int(let i): i
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: Int64(d)
        default: nil
        }
    }

    /// `int64Value` as an `Int`.
    public var intValue: Int? { int64Value.flatMap { Int(exactly: $0) } }

    /// Any number, as a `Double` (large integers are rounded to the nearest one).
    public var doubleValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
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

    public var isNull: Bool { self == .null }

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
    public init(stringInterpolation: DefaultStringInterpolation) {
        self = .string(String(stringInterpolation: stringInterpolation))
    }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements, uniquingKeysWith: { _, last in last }))
    }

    /// `.int(n)` for an `Int` variable (literals and `Int64` need no conversion).
    public static func int(_ value: Int) -> JSONValue { .int(Int64(value)) }
}

// MARK: - Codable

extension JSONValue: Codable {
    /// For `Codable` containers; parsing text should go through `parse`, which is strict and faster.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
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
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

// MARK: - Text form

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text, object keys sorted so output is deterministic.
    public var description: String { serialized() }

    /// Compact JSON text, object keys sorted, written by the server's `JSONWriter`.
    /// `parse(serialized())` gives back an equal value (a non-finite double, which JSON cannot
    /// hold, is written as `null`).
    public func serialized() -> String {
        var w = JSONWriter()
        w.value(self)
        return w.string
    }

    /// Parses one JSON text from UTF-8 bytes, strictly (see `JSONParser`).
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(JSONParseError) -> JSONValue {
        let parsed = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) in try JSONParser.parseDocument(UnsafeRawBufferPointer(buffer)) }
        }
        if let parsed { return try parsed.get() }
        return try parse(Array(bytes))
    }

    /// Parses one JSON text, reading the string's UTF-8 in place.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var text = text
        return try text.withUTF8 { buffer in
            Result { () throws(JSONParseError) in try JSONParser.parseDocument(UnsafeRawBufferPointer(buffer)) }
        }.get()
    }
}
