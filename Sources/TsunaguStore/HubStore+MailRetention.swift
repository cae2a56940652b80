import Foundation
import GRDB

extension HubStore {
    /// Deletes queued mail created before `cutoff` (milliseconds), sent or not: once its link has
    /// expired a message carries nothing anyone needs, only an address and a name. Answers how
    /// many went.
    @discardableResult
    public func purgeMail(createdBefore cutoff: Int64) async throws -> Int {
        try await writeImmediate { db in
            try db.execute(sql: "DELETE FROM outbox WHERE created_at < ?", arguments: [cutoff])
            return db.changesCount
        }
    }
}
