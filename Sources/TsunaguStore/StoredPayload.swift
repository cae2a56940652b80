import Foundation
import TsunaguCore

/// The kind-specific part of an event as it is sealed into `events.payload`: everything a person
/// typed (body, reaction) and the rest of the payload travel together in one ciphertext.
struct StoredPayload: Codable {
    var body: String?
    var clientMsgID: String?
    var targetSeq: Int64?
    var reaction: String?
    var op: String?
    var callID: String?
    var startedAt: Int64?
    var durationS: Int64?
    var user: String?
    var role: String?

    init(_ payload: TimelineEvent.Payload) {
        switch payload {
        case .message(let body, let clientMsgID):
            self.body = body
            self.clientMsgID = clientMsgID
        case .reaction(let targetSeq, let reaction, let op):
            self.targetSeq = targetSeq
            self.reaction = reaction
            self.op = op.rawValue
        case .call(let callID, let op, let startedAt, let durationS):
            self.callID = callID
            self.op = op.rawValue
            self.startedAt = startedAt
            self.durationS = durationS
        case .member(let user, let op, let role):
            self.user = user.id.rawValue
            self.op = op.rawValue
            self.role = role.rawValue
        }
    }

    /// Rebuilds the payload; `people` resolves the member event's user to a display name.
    func payload(kind: TimelineEvent.Kind, people: [UserID: Person]) -> TimelineEvent.Payload? {
        switch kind {
        case .message:
            guard let body, let clientMsgID else { return nil }
            return .message(body: body, clientMsgID: clientMsgID)
        case .reaction:
            guard let targetSeq, let reaction, let op = op.flatMap(TimelineEvent.ReactionOp.init) else { return nil }
            return .reaction(targetSeq: targetSeq, reaction: reaction, op: op)
        case .call:
            guard let callID, let op = op.flatMap(TimelineEvent.CallOp.init) else { return nil }
            return .call(callID: callID, op: op, startedAtMillis: startedAt, durationSeconds: durationS)
        case .member:
            guard let user = user.flatMap(UserID.init), let op = op.flatMap(TimelineEvent.MemberOp.init),
                let role = role.flatMap(TimelineRole.init)
            else { return nil }
            return .member(user: people[user] ?? Person(id: user, name: ""), op: op, role: role)
        }
    }

    var referencedUser: UserID? { user.flatMap(UserID.init) }

    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()
}
