import Foundation
import TsunaguCore
import TsunaguCrypto

/// What an organization admin's invitation by address did. The admin's answer is the same for
/// both (docs/security.md, "Admin invitations"): only the owner of the address learns which.
public enum AddressInvitation: Sendable {
    /// A new, not yet active user of the organization; the activation link is mailed.
    case invited(UserRecord)
    /// The address has an account already (in this organization or another): nothing about it
    /// changed; a notice saying so was mailed to the address.
    case alreadyRegistered
}

extension HubStore {
    /// Invites `email` into `organization` if no account has the address, else mails
    /// `alreadyRegistered` to it and changes nothing. The checks that can refuse (the address,
    /// the name) run first, so that a refusal never depends on whether the address exists. The
    /// pending audit entry (`recording`) commits with the new user, or with the notice.
    public func inviteByAddress(email: String, name: String, role: OrganizationRole, profession: Profession,
                                organization: OrganizationID, linkLifetimeSeconds: Int64,
                                mail: @escaping @Sendable (_ token: String) -> ActivationMail,
                                alreadyRegistered notice: ActivationMail) async throws -> AddressInvitation
    {
        let address = BlindIndex.normalize(email: email)
        guard address.contains("@"), address.utf8.count <= 254 else { throw StoreError.invalid("email: not an address") }
        guard (1...200).contains(name.trimmingCharacters(in: .whitespacesAndNewlines).count) else {
            throw StoreError.invalid("name: 1 to 200 characters")
        }
        if try await user(email: address) == nil {
            do {
                return .invited(try await invite(email: address, name: name, role: role, profession: profession,
                                                 organization: organization, linkLifetimeSeconds: linkLifetimeSeconds,
                                                 mail: mail))
            } catch StoreError.conflict(_) {
                // Registered meanwhile by someone else: answered as an address that has an account.
            }
        }
        let now = Self.nowMillis()
        try await writeImmediate { [self] db in
            try enqueueMail(db, recipient: address, subject: notice.subject, body: notice.body, at: now)
        }
        return .alreadyRegistered
    }
}
