import Foundation
import GRDB
import TsunaguCore

extension HubStore {
    /// The organization a timeline belongs to (its creator's): whose admins see who read it.
    public func timelineOrganization(_ timeline: TimelineID) async throws -> OrganizationID? {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT org_id FROM timelines WHERE id = ?", arguments: [timeline.rawValue])
                .map(OrganizationID.init(unchecked:))
        }
    }
}
