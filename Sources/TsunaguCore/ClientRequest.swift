/// A validated client → server request (docs/protocol.md §2).
public struct ClientRequest: Sendable, Equatable {
    public var id: Int64
    public var command: Command

    public enum Command: Sendable, Equatable {
        case auth(token: String)
        case subscribe(timeline: TimelineID, since: Int64?)
        case unsubscribe(timeline: TimelineID)
        case post(timeline: TimelineID, body: String, clientMsgID: String)
        case react(timeline: TimelineID, targetSeq: Int64, reaction: String, op: TimelineEvent.ReactionOp)
        case read(timeline: TimelineID, seq: Int64)
        case call(timeline: TimelineID, callID: String, op: TimelineEvent.CallOp)
        case ping

        /// The timeline the command addresses, if any.
        public var timeline: TimelineID? {
            switch self {
            case .auth, .ping: nil
            case .subscribe(let t, _), .unsubscribe(let t), .post(let t, _, _), .react(let t, _, _, _),
                .read(let t, _), .call(let t, _, _):
                t
            }
        }
    }

    public init(id: Int64, command: Command) {
        self.id = id
        self.command = command
    }
}

/// Why a frame was not a valid request. `re` is the request's id when it could be read, so the
/// error reply can still name the request. The message names the field, never its value.
public struct RequestError: Error, Sendable, Equatable {
    public var re: Int64?
    public var code: WireErrorCode
    public var message: String

    public init(re: Int64?, code: WireErrorCode = .badRequest, message: String) {
        self.re = re
        self.code = code
        self.message = message
    }
}

/// Limits of the wire protocol's fields.
public enum FieldLimits {
    /// docs/protocol.md §2: `body` is 1…16384 characters (counted as Unicode scalars).
    public static let bodyCharacters = 1...16_384
    /// A reaction is a short token such as "ack" or one emoji sequence.
    public static let reactionCharacters = 1...32
    public static let tokenBytes = 1...512
}

extension ClientRequest {
    /// Parses one text frame, reading its UTF-8 in place. Never throws anything but `RequestError`.
    public static func parse(_ text: String) throws(RequestError) -> ClientRequest {
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw RequestError(re: nil, message: "malformed JSON")
        }
        guard case .object(let object) = value else {
            throw RequestError(re: nil, message: "a request must be a JSON object")
        }
        var fields = FieldReader(object: object, re: nil)
        guard let id = object["id"]?.int64Value else {
            throw RequestError(re: nil, message: "id: required integer")
        }
        fields.re = id
        let type = try fields.requiredString("type")
        let command: Command
        switch type {
        case "auth":
            let token = try fields.requiredString("token")
            guard FieldLimits.tokenBytes.contains(token.utf8.count) else {
                throw RequestError(re: id, message: "token: invalid length")
            }
            command = .auth(token: token)
        case "subscribe":
            command = .subscribe(timeline: try fields.timeline(), since: try fields.optionalSeq("since"))
        case "unsubscribe":
            command = .unsubscribe(timeline: try fields.timeline())
        case "post":
            let timeline = try fields.timeline()
            let body = try fields.requiredString("body")
            let length = FieldReader.scalarCount(body)
            if length == 0 { throw RequestError(re: id, message: "body: must not be empty") }
            if length > FieldLimits.bodyCharacters.upperBound {
                throw RequestError(re: id, code: .tooLarge, message: "body: longer than 16384 characters")
            }
            command = .post(timeline: timeline, body: body, clientMsgID: try fields.uuid("client_msg_id"))
        case "react":
            let timeline = try fields.timeline()
            let target = try fields.requiredSeq("target_seq")
            let reaction = try fields.requiredString("reaction")
            guard FieldLimits.reactionCharacters.contains(reaction.unicodeScalars.count),
                !reaction.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw RequestError(re: id, message: "reaction: 1 to 32 characters, no control characters")
            }
            guard let op = TimelineEvent.ReactionOp(rawValue: try fields.requiredString("op")) else {
                throw RequestError(re: id, message: "op: must be \"add\" or \"remove\"")
            }
            command = .react(timeline: timeline, targetSeq: target, reaction: reaction, op: op)
        case "read":
            command = .read(timeline: try fields.timeline(), seq: try fields.requiredSeq("seq"))
        case "call":
            let timeline = try fields.timeline()
            let callID = try fields.uuid("call_id")
            guard let op = TimelineEvent.CallOp(rawValue: try fields.requiredString("op")) else {
                throw RequestError(re: id, message: "op: must be \"start\" or \"end\"")
            }
            command = .call(timeline: timeline, callID: callID, op: op)
        case "ping":
            command = .ping
        default:
            throw RequestError(re: id, message: "type: unknown request type")
        }
        return ClientRequest(id: id, command: command)
    }
}

/// Reads typed fields out of a request object, with errors that name the field.
struct FieldReader {
    let object: [String: JSONValue]
    var re: Int64?

    func requiredString(_ name: String) throws(RequestError) -> String {
        guard let value = object[name]?.stringValue else {
            throw RequestError(re: re, message: "\(name): required string")
        }
        return value
    }

    func requiredSeq(_ name: String) throws(RequestError) -> Int64 {
        guard let value = object[name]?.int64Value, value >= 0 else {
            throw RequestError(re: re, message: "\(name): required non-negative integer")
        }
        return value
    }

    func optionalSeq(_ name: String) throws(RequestError) -> Int64? {
        guard let raw = object[name], !raw.isNull else { return nil }
        guard let value = raw.int64Value, value >= 0 else {
            throw RequestError(re: re, message: "\(name): a non-negative integer or null")
        }
        return value
    }

    func timeline() throws(RequestError) -> TimelineID {
        guard let id = TimelineID(try requiredString("timeline")) else {
            throw RequestError(re: re, message: "timeline: not a timeline id")
        }
        return id
    }

    /// Client-made UUIDs are normalized to lowercase so retries match whatever case the client used.
    func uuid(_ name: String) throws(RequestError) -> String {
        guard let uuid = Self.lowercasedUUID(try requiredString(name)) else {
            throw RequestError(re: re, message: "\(name): must be a UUID")
        }
        return uuid
    }

    /// The 8-4-4-4-12 hex form (RFC 9562 §4) that Foundation's `UUID(uuidString:)` accepts, in
    /// lowercase; nil for anything else. By hand because it runs for every post and call, and
    /// parsing into a `UUID` and formatting it back cost as much as parsing the whole request.
    static func lowercasedUUID(_ text: String) -> String? {
        let utf8 = text.utf8
        guard utf8.count == 36 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (index, byte) in utf8.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return nil }
                out.append(byte)
            default:
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): out.append(byte)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): out.append(byte | 0x20)
                default: return nil
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `text.unicodeScalars.count` without decoding: in valid UTF-8 every scalar has exactly one
    /// byte that is not a continuation byte (10xxxxxx).
    static func scalarCount(_ text: String) -> Int {
        var count = 0
        for byte in text.utf8 where byte & 0xC0 != 0x80 { count += 1 }
        return count
    }
}
