import TsunaguCore

extension AuditScope {
    /// Inside the transaction that answers an invitation: the pending entry becomes `action`
    /// recorded once in each organization concerned (the invitee's and the inviter's; once when
    /// they are the same), so that both admins see the answer and neither entry commits without
    /// the other or without the answer (docs/security.md, "Cross-organization members").
    static func recordAnswer(_ action: String, _ invitation: TimelineInvitation) {
        expand { entry in
            Set([invitation.inviteeOrganization, invitation.inviterOrganization]).sorted().map { organization in
                AuditRecord(organization: organization, actor: invitation.invitee, action: action,
                            target: "\(invitation.timeline.rawValue)/\(invitation.invitee.rawValue)",
                            source: entry.source, node: entry.node,
                            details: "\(invitation.id.rawValue) role \(invitation.role.rawValue)")
            }
        }
    }
}
