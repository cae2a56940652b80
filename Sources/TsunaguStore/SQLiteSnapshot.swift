import Foundation
import GRDB

/// The plaintext source of a SQLite store's backup: a consistent copy made with SQLite's online
/// backup API (from a WAL snapshot, so nodes keep writing), handed over as an open file that is
/// already unlinked, so the plaintext has no name on disk while it is sealed.
///
/// The copy is made in a private directory (mode 0700) inside the backup directory, which is
/// emptied before each new copy: if the process dies between the copy and the unlink, the next
/// backup removes what is left. The file is unlinked right after the copy is closed.
enum SQLiteSnapshot {
    static let directoryName = ".snapshot-in-progress"

    /// Removes what an interrupted backup left in `backupDirectory` (this format's private
    /// directory, and the loose `.snapshot-*.sqlite` files of the earlier, single-shot format).
    static func removeLeftovers(in backupDirectory: String) {
        let files = FileManager.default
        try? files.removeItem(atPath: (backupDirectory as NSString).appendingPathComponent(directoryName))
        for name in (try? files.contentsOfDirectory(atPath: backupDirectory)) ?? []
        where name.hasPrefix(".snapshot-") && name.contains(".sqlite") {
            try? files.removeItem(atPath: (backupDirectory as NSString).appendingPathComponent(name))
        }
    }

    /// A readable handle on a fresh, already unlinked copy of `store`.
    static func take(_ store: HubStore, in backupDirectory: String) throws -> FileHandle {
        let files = FileManager.default
        removeLeftovers(in: backupDirectory)
        let privateDirectory = (backupDirectory as NSString).appendingPathComponent(directoryName)
        try files.createDirectory(atPath: privateDirectory, withIntermediateDirectories: false,
                                  attributes: [.posixPermissions: 0o700])
        defer { try? files.removeItem(atPath: privateDirectory) }
        let path = (privateDirectory as NSString).appendingPathComponent("snapshot.sqlite")
        // Either backend: SQLite's online backup, or a PostgreSQL snapshot copied row for row
        // (StoreBackup+Snapshot.swift); the file is the same format either way.
        try StoreBackup.writeSnapshot(of: store, to: path)
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        try files.removeItem(atPath: path)
        return handle
    }
}
