import ArgumentParser
import Foundation
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// `tsunagu admin …`: operator utilities. Whoever can read the master key file is an operator.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Operator utilities: the first organization, users.",
        subcommands: [Bootstrap.self, AddUser.self, ResetPassword.self])
}

extension Admin {
    struct Bootstrap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the first organization and its admin on an empty store.")

        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Name of the first organization.") var org: String
        @OptionGroup var account: AccountCredentials

        func run() async throws {
            let password = try account.readPassword()
            let email = account.email
            let store = try storeOptions.openStore(createKey: true)
            guard try store.organizationCount() == 0 else {
                throw CLIError("the store already has an organization; use `tsunagu admin add-user`")
            }
            do {
                let organization = try store.createOrganization(name: org)
                let name = String(email.split(separator: "@").first ?? "admin")
                let hash = PasswordHasher().hash(password)
                // The entry commits with the admin's row (its target: the new user's id).
                let user = try store.recordingSync(AuditRecord(organization: organization.id, actor: nil,
                                                               action: "admin.bootstrap", source: OperatorAudit.source,
                                                               details: email)) {
                    try store.createUser(organization: organization.id, email: email, name: name, passwordHash: hash,
                                         role: .admin)
                }
                print("created organization \(organization.id) and its admin \(user.id)")
            } catch let error as StoreError {
                throw CLIError("\(error)")
            }
        }
    }

    struct AddUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-user",
            abstract: "Add an active user to an organization (with --create-org, created when it does not exist).")

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var account: AccountCredentials
        @Option(help: "Display name.") var name: String
        @Option(help: "Organization name (default: the first organization).") var org: String?
        @Flag(help: "Create the --org organization when it does not exist (else an unknown name is an error).")
        var createOrg = false
        @Option(help: "Role in the organization: admin or member.") var role: OrganizationRole = .member
        @Option(help: "Profession: doctor, dentist, pharmacist, nurse, therapist, care_manager, care_worker, family or other.")
        var profession: Profession = .other

        func validate() throws {
            guard org != nil || !createOrg else { throw ValidationError("--create-org: goes with --org NAME") }
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--name: must not be empty") }
        }

        func run() async throws {
            let password = try account.readPassword()
            let email = account.email
            let store = try storeOptions.openStore(createKey: false)
            do {
                let organization: OrganizationRecord
                if let org {
                    if let existing = try store.organization(named: org) {
                        organization = existing
                    } else if createOrg {
                        organization = try store.createOrganization(name: org)
                    } else {
                        // A typo must not create a second organization silently.
                        throw CLIError("--org: no organization named \"\(org)\"; add --create-org to create it")
                    }
                } else if let first = try store.firstOrganization() {
                    organization = first
                } else {
                    throw CLIError("the store has no organization; run `tsunagu admin bootstrap` first or pass --org")
                }
                let hash = PasswordHasher().hash(password)
                let user = try store.recordingSync(AuditRecord(
                    organization: organization.id, actor: nil, action: "admin.add-user", source: OperatorAudit.source,
                    details: "\(email) role \(role.rawValue) profession \(profession.rawValue)")) {
                    try store.createUser(organization: organization.id, email: email, name: name, passwordHash: hash,
                                         role: role, profession: profession)
                }
                print("created user \(user.id) in organization \(organization.id)")
            } catch let error as StoreError {
                throw CLIError("\(error)")
            }
        }
    }
}

extension OrganizationRole: ExpressibleByArgument {}
extension Profession: ExpressibleByArgument {}
