import Foundation
import GRDB
import TsunaguCore

/// Where each node's admin listener (`/metrics`, health) answers, recorded beside its registry
/// row so that `tsunagu nodes list --json` can tell Prometheus where to scrape.
extension HubStore {
    /// Records the admin listener of a registered node (after `registerNode`).
    public func setAdminAddress(id: NodeID, address: String) async throws {
        try await writeImmediate { db in
            try db.execute(sql: "UPDATE nodes SET admin_address = ? WHERE id = ?", arguments: [address, id.rawValue])
        }
    }

    /// Admin listener addresses by node id, for the nodes that recorded one.
    public func adminAddresses() async throws -> [NodeID: String] {
        try await read { db in
            var addresses: [NodeID: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, admin_address FROM nodes WHERE admin_address IS NOT NULL") {
                addresses[NodeID(row["id"])] = row["admin_address"]
            }
            return addresses
        }
    }
}
