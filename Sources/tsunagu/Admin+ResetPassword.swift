import ArgumentParser
import Foundation
import TsunaguCrypto
import TsunaguStore

extension Admin {
    /// `tsunagu admin reset-password --email E --password-stdin`: an operator (whoever holds the
    /// master key) sets a new password for an account, e.g. the demo admin whose first password
    /// scrolled away. Every session of the account is revoked in the same transaction.
    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password",
            abstract: "Set a new password for an account (read from standard input); every session of the account ends.")

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var account: AccountCredentials

        func run() async throws {
            let password = try account.readPassword()
            let email = account.email
            let store = try storeOptions.openStore(createKey: false)
            do {
                let hash = PasswordHasher().hash(password)
                // The entry commits with the new password (the store names the account in it).
                let (user, revoked) = try await store.recording(AuditRecord(organization: nil, actor: nil,
                                                                            action: "admin.reset-password",
                                                                            source: OperatorAudit.source)) {
                    try await store.resetPassword(email: email, passwordHash: hash)
                }
                print("new password set for \(user.id); \(revoked.count) session(s) ended")
            } catch let error as StoreError {
                throw CLIError("\(error)")
            }
        }
    }
}
