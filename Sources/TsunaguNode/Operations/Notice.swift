import TsunaguCore
import TsunaguStore

/// A notice as clients see it (docs/protocol.md, "Notices"): a planned change, shown to every
/// user, or an incident, shown to the admins of the organizations it affects once they were
/// notified. Serialized once, when the node loads it.
struct Notice: Sendable {
    enum Audience: Sendable {
        case everyone
        case admins(of: Set<OrganizationID>)
    }

    let id: String
    let audience: Audience
    /// `{"type":"notice","notice":{…}}`, the WebSocket frame.
    let frame: [UInt8]
    /// The notice object alone, for `GET /v1/notices`.
    let object: JSONValue

    init(_ notice: ChangeNotice, time: WireTime) {
        id = notice.id
        audience = .everyone
        object = .object([
            "id": .string(notice.id), "kind": .string("change"),
            "starts": .string(time.format(millis: notice.startsAtMillis)),
            "ends": .string(time.format(millis: notice.endsAtMillis)), "text": .string(notice.text),
        ])
        frame = Self.frame(object)
    }

    init(_ incident: Incident, time: WireTime) {
        id = incident.id
        audience = .admins(of: Set(incident.organizations))
        var fields: [String: JSONValue] = [
            "id": .string(incident.id), "kind": .string("incident"),
            "detected": .string(time.format(millis: incident.detectedAtMillis)), "text": .string(incident.text),
        ]
        if let notified = incident.notifiedAtMillis { fields["notified"] = .string(time.format(millis: notified)) }
        object = .object(fields)
        frame = Self.frame(object)
    }

    func isFor(_ user: UserRecord) -> Bool {
        switch audience {
        case .everyone: true
        case .admins(let organizations): user.role == .admin && organizations.contains(user.organization)
        }
    }

    private static func frame(_ object: JSONValue) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "notice")
        w.key("notice")
        w.value(object)
        w.endObject()
        return w.bytes
    }
}
