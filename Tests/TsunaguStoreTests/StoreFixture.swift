import Foundation
import TsunaguCore
import TsunaguCrypto
import TsunaguStore

/// A store in a fresh temporary directory, with an organization, an owner and two more users.
struct StoreFixture {
    let directory: String
    let key: MasterKey
    let store: HubStore
    let organization: OrganizationRecord
    let owner: UserRecord
    let nurse: UserRecord
    let outsider: UserRecord

    var path: String { directory + "/tsunagu.sqlite" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        key = MasterKey(key: SymmetricKey.random())
        store = try HubStore(path: directory + "/tsunagu.sqlite", masterKey: key)
        organization = try store.createOrganization(name: "Sakura Clinic")
        owner = try store.createUser(organization: organization.id, email: "doc@sakura.test", name: "Dr. Ito",
                                     passwordHash: nil, role: .admin)
        nurse = try store.createUser(organization: organization.id, email: "nurse@sakura.test", name: "Sato Hanako",
                                     passwordHash: nil, role: .member)
        outsider = try store.createUser(organization: organization.id, email: "other@sakura.test", name: "Outsider",
                                        passwordHash: nil, role: .member)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
