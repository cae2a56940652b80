import Testing
import TsunaguCore

@Suite struct TimelineAccessPolicyTests {
    /// docs/protocol.md §8, as a table: role → actions it allows.
    static let expected: [TimelineRole?: Set<TimelineAction>] = [
        .owner: Set(TimelineAction.allCases),
        .member: [.read, .post, .react, .acknowledge, .markRead, .startOrEndCall, .leave],
        .viewer: [.read, .react, .markRead, .leave],
        nil: [],
    ]

    @Test(arguments: [TimelineRole.owner, .member, .viewer, nil])
    func roleAllowsExactlyItsActions(role: TimelineRole?) {
        for action in TimelineAction.allCases {
            #expect(TimelineAccessPolicy.allows(role, action) == Self.expected[role]!.contains(action),
                    "\(String(describing: role)) \(action)")
        }
    }

    @Test func ackIsAcknowledgingAndEveryOtherReactionIsReacting() {
        #expect(TimelineAction.reacting(with: "ack") == .acknowledge)
        #expect(TimelineAction.reacting(with: "👍") == .react)
        #expect(TimelineAction.reacting(with: "Ack") == .react)
    }

    @Test func rolesAreOrderedByPrivilege() {
        #expect(TimelineRole.viewer < .member)
        #expect(TimelineRole.member < .owner)
    }
}
