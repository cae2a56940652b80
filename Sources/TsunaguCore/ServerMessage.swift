/// Serializes server → client messages (docs/protocol.md §3). Each function returns the UTF-8 JSON text
/// of one frame.
public enum ServerMessage {
    /// `{"type":"event",...}`. Written once per event per node, shared by all subscribers.
    public static func event(_ event: TimelineEvent, time: WireTime) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("type", "event")
        writeEventFields(event, time: time, into: &w)
        w.endObject()
        return w.bytes
    }

    /// The fields of an event without the `type`, also used for history pages over HTTP.
    public static func writeEventFields(_ event: TimelineEvent, time: WireTime, into w: inout JSONWriter) {
        w.field("timeline", event.timeline.rawValue)
        w.field("seq", event.seq)
        w.field("kind", event.kind.rawValue)
        w.field("at", time.format(millis: event.atMillis))
        w.key("author")
        writePerson(event.author, into: &w)
        switch event.payload {
        case .message(let body, let clientMsgID):
            w.field("body", body)
            w.field("client_msg_id", clientMsgID)
        case .reaction(let targetSeq, let reaction, let op):
            w.field("target_seq", targetSeq)
            w.field("reaction", reaction)
            w.field("op", op.rawValue)
        case .call(let callID, let op, let startedAt, let duration):
            w.field("call_id", callID)
            w.field("op", op.rawValue)
            if let startedAt { w.field("started_at", time.format(millis: startedAt)) }
            if let duration { w.field("duration_s", duration) }
        case .member(let user, let op, let role):
            w.key("user")
            writePerson(user, into: &w)
            w.field("op", op.rawValue)
            w.field("role", role.rawValue)
        }
    }

    public static func writePerson(_ person: Person, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", person.id.rawValue)
        w.field("name", person.name)
        w.field("profession", person.profession.rawValue)
        w.endObject()
    }

    /// `{"type":"ok","re":id, ...}`; `fields` adds the reply's own members.
    public static func ok(re: Int64, fields: (inout JSONWriter) -> Void = { _ in }) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "ok")
        w.field("re", re)
        fields(&w)
        w.endObject()
        return w.bytes
    }

    /// `{"type":"error","re":id,"code":…,"message":…}`. `re` is omitted when the request's id could
    /// not be read, and `timeline` is set on pushes that end a subscription.
    public static func error(re: Int64?, code: WireErrorCode, message: String,
                             timeline: TimelineID? = nil) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "error")
        if let re { w.field("re", re) }
        w.field("code", code.rawValue)
        w.field("message", message)
        if let timeline { w.field("timeline", timeline.rawValue) }
        w.endObject()
        return w.bytes
    }

    /// `{"type":"receipt","timeline":…,"user":…,"seq":…}`: a member's read marker moved. With the
    /// reader's `profession` when the caller knows it (docs/protocol.md §3).
    public static func receipt(timeline: TimelineID, user: UserID, seq: Int64, profession: Profession? = nil) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "receipt")
        w.field("timeline", timeline.rawValue)
        w.field("user", user.rawValue)
        w.field("seq", seq)
        if let profession { w.field("profession", profession.rawValue) }
        w.endObject()
        return w.bytes
    }

    /// `{"type":"reconnect","reason":…,"after_ms":N}`: the node is leaving.
    public static func reconnect(reason: String, afterMillis: Int) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "reconnect")
        w.field("reason", reason)
        w.field("after_ms", afterMillis)
        w.endObject()
        return w.bytes
    }
}
