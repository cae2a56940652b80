import NIOCore

/// The top-level fields of a Tsunagu server message that load tools look at, read without building
/// the rest of the message (nested objects such as `author` are skipped).
public struct MessageFields: Sendable, Equatable {
    public var type: String?
    public var re: Int?
    public var seq: Int?
    public var head: Int?
    public var timeline: String?
    public var body: String?
    public var code: String?

    public init() {}

    /// Scans one message. nil when it is not a JSON object.
    public static func scan(_ message: ByteBuffer) -> MessageFields? {
        message.withUnsafeReadableBytes { scan(bytes: $0) }
    }

    public static func scan(_ text: String) -> MessageFields? {
        var text = text
        return text.withUTF8 { scan(bytes: UnsafeRawBufferPointer($0)) }
    }

    static func scan(bytes: UnsafeRawBufferPointer) -> MessageFields? {
        var p = JSONParser(bytes)
        var f = MessageFields()
        do {
            p.skipWhitespace()
            try p.expect(UInt8(ascii: "{"))
            p.skipWhitespace()
            if p.peek == UInt8(ascii: "}") { return f }
            while true {
                p.skipWhitespace()
                if p.matchKey("type") {
                    try colon(&p); f.type = try p.parseValue().stringValue
                } else if p.matchKey("re") {
                    try colon(&p); f.re = try p.parseValue().intValue
                } else if p.matchKey("seq") {
                    try colon(&p); f.seq = try p.parseValue().intValue
                } else if p.matchKey("head") {
                    try colon(&p); f.head = try p.parseValue().intValue
                } else if p.matchKey("timeline") {
                    try colon(&p); f.timeline = try p.parseValue().stringValue
                } else if p.matchKey("body") {
                    try colon(&p); f.body = try p.parseValue().stringValue
                } else if p.matchKey("code") {
                    try colon(&p); f.code = try p.parseValue().stringValue
                } else {
                    try p.skipString()
                    try colon(&p)
                    try p.skipValue()
                }
                p.skipWhitespace()
                if p.peek == UInt8(ascii: ",") { p.i += 1; continue }
                try p.expect(UInt8(ascii: "}"))
                return f
            }
        } catch {
            return nil
        }
    }

    private static func colon(_ p: inout JSONParser) throws(JSONParseError) {
        p.skipWhitespace()
        try p.expect(UInt8(ascii: ":"))
        p.skipWhitespace()
    }
}
