import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import TsunaguCrypto

/// Encrypted backups of the store (white paper 8.13; docs/protocol.md §7 `tsunagu backup` /
/// `tsunagu restore`).
///
/// A backup is a consistent snapshot of the SQLite file (SQLite's online backup API, read from a
/// WAL snapshot, so nodes keep writing meanwhile), sealed whole with AES-256-GCM under a key
/// derived from the master key:
///
///     "TSUNAGU-BACKUP-1" || AESGCM.seal(snapshot, key: derivedKey("backup"), associatedData: that magic)
///
/// The master key itself never enters the backup (the store holds its data keys wrapped by it, as
/// on disk), so a backup is useless without the master key and restoring needs the same key. One
/// file per UTC day, `tsunagu-YYYYMMDD.backup`: a second backup on the same day replaces that
/// day's file, and only the newest `generations` days are kept.
///
/// The snapshot is sealed in memory: fine for the stores this project runs (tens of MB); a store
/// of many GB would want chunked sealing (not built).
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

        public var description: String {
            switch self {
            case .notABackup(let path): "\(path) is not a Tsunagu backup"
            case .wrongKey: "the master key does not open this backup (it was made with another key, or the file was altered)"
            case .storeExists(let path): "a store exists at \(path); stop every node and pass --force to replace it"
            case .nodesRunning(let ids): "nodes are running on this store (\(ids.joined(separator: ", "))); stop them before restoring"
            case .damaged(let reason): "the backup's database is damaged: \(reason)"
            }
        }
    }

    /// The file name of the generation of `date` (its UTC day).
    public static func fileName(for date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let day = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "tsunagu-%04d%02d%02d.backup", day.year!, day.month!, day.day!)
    }

    /// Writes today's generation into `directory` (created, mode 0700) and deletes generations
    /// beyond the newest `generations`. Answers the file written.
    public static func backup(_ store: HubStore, masterKey: MasterKey, into directory: String, now: Date = Date()) throws
        -> String
    {
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let snapshotPath = (directory as NSString).appendingPathComponent(".snapshot-\(UUID().uuidString).sqlite")
        defer { try? files.removeItem(atPath: snapshotPath) }
        try writeSnapshot(of: store, to: snapshotPath)
        let plaintext = [UInt8](try Data(contentsOf: URL(fileURLWithPath: snapshotPath)))
        let sealed = magic + AESGCM.seal(plaintext, key: masterKey.derivedKey(purpose: keyPurpose), associatedData: magic)
        let target = (directory as NSString).appendingPathComponent(fileName(for: now))
        // Written beside, then renamed: a crash mid-write never leaves a truncated generation.
        let partial = target + ".partial"
        guard files.createFile(atPath: partial, contents: Data(sealed), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: partial])
        }
        guard rename(partial, target) == 0 else {
            try? files.removeItem(atPath: partial)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target])
        }
        try prune(directory)
        return target
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
    public static func restore(from file: String, masterKey: MasterKey, to storePath: String, replace: Bool) async throws {
        let files = FileManager.default
        let sealed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        guard sealed.count > magic.count, Array(sealed.prefix(magic.count)) == magic else { throw Failure.notABackup(file) }
        let plaintext: [UInt8]
        do {
            plaintext = try AESGCM.open(Array(sealed.dropFirst(magic.count)), key: masterKey.derivedKey(purpose: keyPurpose),
                                        associatedData: magic)
        } catch {
            throw Failure.wrongKey
        }
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
        guard files.createFile(atPath: staged, contents: Data(plaintext), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: staged])
        }
        do {
            let check = try DatabaseQueue(path: staged)
            let verdict = try await check.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } ?? "no answer"
            try check.close()
            guard verdict == "ok" else { throw Failure.damaged(verdict) }
            // Opens its data keys with this master key (and brings an older schema up to date).
            _ = try HubStore(path: staged, masterKey: masterKey)
        } catch {
            for path in [staged, staged + "-wal", staged + "-shm"] { try? files.removeItem(atPath: path) }
            throw error
        }
        for path in [storePath + "-wal", storePath + "-shm"] { try? files.removeItem(atPath: path) }
        for suffix in ["-wal", "-shm"] where files.fileExists(atPath: staged + suffix) {
            try files.moveItem(atPath: staged + suffix, toPath: storePath + suffix)
        }
        if files.fileExists(atPath: storePath) { try files.removeItem(atPath: storePath) }
        try files.moveItem(atPath: staged, toPath: storePath)
    }
}
