import Testing
import TsunaguCore

@Suite struct TimelineAccessPolicyTests {
    /// docs/protocol.md §6, as a table: role → actions it allows.
    static let expected: [TimelineRole?: Set<TimelineAction>] = [
        .owner: Set(TimelineAction.allCases),
        .member: [.read, .post, .react, .markRead, .startOrEndCall, .leave],
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

    @Test func rolesAreOrderedByPrivilege() {
        #expect(TimelineRole.viewer < .member)
        #expect(TimelineRole.member < .owner)
    }
}
