import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import TsunaguCrypto

/// Encrypted backups of the store (white paper 8.13; docs/protocol.md §7 `tsunagu backup` /
/// `tsunagu restore`).
///
/// A backup is a consistent snapshot of the SQLite file (`SQLiteSnapshot`: SQLite's online backup
/// API, read from a WAL snapshot, so nodes keep writing meanwhile), sealed as a stream of
/// AES-256-GCM chunks under the backup key (`BackupSealer`, docs/storage.md "Backups"), with the
/// audit chain's signed anchor in its authenticated header. The plaintext copy is unlinked before
/// sealing starts and never has a name in the backup directory once sealing begins.
///
/// Files of the earlier single-shot format stay restorable:
///
///     "TSUNAGU-BACKUP-1" || AESGCM.seal(snapshot, key: backup key, associatedData: that magic)
///
/// The master key itself never enters the backup (the store holds its data keys wrapped by it, as
/// on disk), so a backup is useless without the master key and restoring needs the same key. One
/// file per UTC day, `tsunagu-YYYYMMDD.backup`: a second backup on the same day replaces that
/// day's file, and only the newest `generations` days are kept.
public enum StoreBackup {
    public static let generations = 8
    static let magic = Array("TSUNAGU-BACKUP-1".utf8)
    static let keyPurpose = "backup"

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case notABackup(String)
        case wrongKey
        case storeExists(String)
        case nodesRunning([String])
        case damaged(String)
        case truncated(String)

        public var description: String {
            switch self {
            case .notABackup(let path): "\(path) is not a Tsunagu backup"
            case .wrongKey: "the master key does not open this backup (it was made with another key, or the file was altered)"
            case .storeExists(let path): "a store exists at \(path); stop every node and pass --force to replace it"
            case .nodesRunning(let ids): "nodes are running on this store (\(ids.joined(separator: ", "))); stop them before restoring"
            case .damaged(let reason): "the backup's database is damaged: \(reason)"
            case .truncated(let path): "\(path) is cut short (its last chunk is missing); it cannot be restored"
            }
        }
    }

    /// The file name of the generation of `date`: its calendar day in `timeZone` (the CLI passes
    /// the deployment's zone, the one its logs use).
    public static func fileName(for date: Date, timeZone: TimeZone = TimeZone(identifier: "UTC")!) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let day = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "tsunagu-%04d%02d%02d.backup", day.year!, day.month!, day.day!)
    }

    /// The key that seals backups, as derived from the master key.
    public static func sealingKey(_ masterKey: MasterKey) -> SymmetricKey { masterKey.derivedKey(purpose: keyPurpose) }

    /// Writes today's generation into `directory` (created, mode 0700) and deletes generations
    /// beyond the newest `generations`. Answers the file written.
    public static func backup(_ store: HubStore, masterKey: MasterKey, into directory: String, now: Date = Date(),
                              timeZone: TimeZone = TimeZone(identifier: "UTC")!) throws
        -> String
    {
        try backup(store, sealingKey: sealingKey(masterKey), auditAnchor: nil, into: directory, now: now, timeZone: timeZone)
    }

    /// Writes today's generation sealed under `sealingKey`, carrying `auditAnchor` (taken before
    /// the snapshot, so every entry it counts is in the backup).
    public static func backup(_ store: HubStore, sealingKey: SymmetricKey, auditAnchor: AuditAnchor?, into directory: String,
                              now: Date = Date(), timeZone: TimeZone = TimeZone(identifier: "UTC")!,
                              chunkBytes: Int = BackupSealer.defaultChunkBytes) throws -> String
    {
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let target = (directory as NSString).appendingPathComponent(fileName(for: now, timeZone: timeZone))
        // Written beside, then renamed: a crash mid-write never leaves a truncated generation.
        let partial = target + ".partial"
        let source = try SQLiteSnapshot.take(store, in: directory)
        defer { try? source.close() }
        guard files.createFile(atPath: partial, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = FileHandle(forWritingAtPath: partial) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: partial])
        }
        do {
            defer { try? output.close() }
            let header = BackupSealer.Header(chunkBytes: chunkBytes, createdMillis: Int64(now.timeIntervalSince1970 * 1000),
                                             auditAnchor: auditAnchor)
            try BackupSealer.seal(from: source, to: output, key: sealingKey, header: header)
            try output.synchronize()
        } catch {
            try? files.removeItem(atPath: partial)
            throw error
        }
        guard rename(partial, target) == 0 else {
            try? files.removeItem(atPath: partial)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target])
        }
        try prune(directory)
        return target
    }

    /// The audit anchor a backup carries (nil for a single-shot backup, or one taken without).
    /// The anchor is signed; check it with the anchor key before trusting it.
    public static func auditAnchor(in file: String) throws -> AuditAnchor? {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw Failure.notABackup(file) }
        defer { try? handle.close() }
        do {
            return try BackupSealer.readHeader(handle).header.auditAnchor
        } catch {
            throw Failure.notABackup(file)
        }
    }

    /// The generations in `directory`, oldest first.
    public static func generations(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasPrefix("tsunagu-") && $0.hasSuffix(".backup") && $0.count == "tsunagu-YYYYMMDD.backup".count }
            .sorted()
    }

    private static func prune(_ directory: String) throws {
        for old in try generations(in: directory).dropLast(generations) {
            try FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(old))
        }
    }

    /// Replaces (or creates) the store at `storePath` with the backup in `file`. Refuses an
    /// existing store unless `replace`, and a store that nodes are heartbeating into. The backup
    /// is decrypted and checked (SQLite integrity, the master key opens its data keys) before the
    /// store is touched.
    /// Opens the backup in `file` (either format) into a new file `staged`.
    private static func open(_ file: String, key: SymmetricKey, into staged: String) throws {
        let files = FileManager.default
        guard let input = FileHandle(forReadingAtPath: file) else { throw Failure.notABackup(file) }
        defer { try? input.close() }
        let start = [UInt8](try input.read(upToCount: BackupSealer.magic.count) ?? Data())
        guard files.createFile(atPath: staged, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = FileHandle(forWritingAtPath: staged) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: staged])
        }
        defer { try? output.close() }
        if start == magic {
            // The single-shot format: sealed whole, so opened whole.
            let sealed = [UInt8](try input.readToEnd() ?? Data())
            guard !sealed.isEmpty else { throw Failure.notABackup(file) }
            do {
                try output.write(contentsOf: try AESGCM.open(sealed, key: key, associatedData: magic))
            } catch {
                throw Failure.wrongKey
            }
        } else if start == BackupSealer.magic {
            try input.seek(toOffset: 0)
            do {
                _ = try BackupSealer.open(from: input, to: output, key: key)
            } catch let failure as BackupSealer.Failure {
                switch failure {
                case .notThisFormat: throw Failure.notABackup(file)
                case .firstChunkRefused: throw Failure.wrongKey
                case .chunkRefused(let index): throw Failure.damaged("chunk \(index) does not open where it stands (altered or moved)")
                case .truncated: throw Failure.truncated(file)
                case .trailingBytes: throw Failure.damaged("bytes follow its last chunk")
                }
            }
        } else {
            throw Failure.notABackup(file)
        }
        try output.synchronize()
    }

    public static func restore(from file: String, masterKey: MasterKey, to storePath: String, replace: Bool,
                               sealingKey: SymmetricKey? = nil) async throws {
        let files = FileManager.default
        let key = sealingKey ?? Self.sealingKey(masterKey)
        if files.fileExists(atPath: storePath) {
            guard replace else { throw Failure.storeExists(storePath) }
            let current = try HubStore(path: storePath, masterKey: masterKey)
            let running = try await current.liveNodes().map(\.id.rawValue)
            guard running.isEmpty else { throw Failure.nodesRunning(running) }
        }
        let directory = (storePath as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let staged = storePath + ".restoring"
        for path in [staged, staged + "-wal", staged + "-shm"] { try? files.removeItem(atPath: path) }
        do {
            try open(file, key: key, into: staged)
        } catch {
            for path in [staged, staged + "-wal", staged + "-shm"] { try? files.removeItem(atPath: path) }
            throw error
        }
        do {
            let check = try DatabaseQueue(path: staged)
            let verdict = try await check.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } ?? "no answer"
            try check.close()
            guard verdict == "ok" else { throw Failure.damaged(verdict) }
            // Opens its data keys with this master key (and brings an older schema up to date).
            // Closed here, not by its deinit, which closes on another thread and could take the
            // staged WAL files away while they are moved below.
            let opened = try HubStore(path: staged, masterKey: masterKey)
            opened.backend.close()
        } catch {
            for path in [staged, staged + "-wal", staged + "-shm"] { try? files.removeItem(atPath: path) }
            throw error
        }
        for path in [storePath + "-wal", storePath + "-shm"] { try? files.removeItem(atPath: path) }
        for suffix in ["-wal", "-shm"] where files.fileExists(atPath: staged + suffix) {
            // The shared-memory file may go with the last connection: only the WAL must move.
            if suffix == "-shm" { try? files.moveItem(atPath: staged + suffix, toPath: storePath + suffix) } else {
                try files.moveItem(atPath: staged + suffix, toPath: storePath + suffix)
            }
        }
        if files.fileExists(atPath: storePath) { try files.removeItem(atPath: storePath) }
        try files.moveItem(atPath: staged, toPath: storePath)
    }
}
