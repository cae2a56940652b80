import Foundation
import GRDB
import Testing
import TsunaguCore
import TsunaguCrypto
import TsunaguStore
import TsunaguTestSupport

/// The backends the store's tests run on: the same tests, once on each.
enum StoreBackendKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }
}

/// A store in a fresh temporary directory (SQLite) or a fresh database of the test PostgreSQL
/// server, with an organization, an owner and two more users.
struct StoreFixture {
    let directory: String
    let key: MasterKey
    let location: StoreLocation
    let store: HubStore
    let organization: OrganizationRecord
    let owner: UserRecord
    let nurse: UserRecord
    let outsider: UserRecord

    /// The SQLite file (SQLite fixtures only).
    var path: String { directory + "/tsunagu.sqlite" }

    /// Makes the fixture; a PostgreSQL one on a dispatch thread. Starting the test server
    /// (`initdb`, seconds) and creating its database block, and on Swift's cooperative threads
    /// (two on this machine) that blocking stalled every other test of the process.
    static func make(_ backend: StoreBackendKind = .sqlite) async throws -> StoreFixture {
        guard backend == .postgres else { return try StoreFixture(backend) }
        let made: FixtureBox = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { FixtureBox(fixture: try StoreFixture(backend)) })
            }
        }
        return made.fixture
    }

    init(_ backend: StoreBackendKind = .sqlite) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        key = MasterKey(key: SymmetricKey.random())
        location = try Self.newLocation(backend, directory: directory)
        store = try HubStore(location: location, masterKey: key)
        organization = try store.createOrganization(name: "Sakura Clinic")
        owner = try store.createUser(organization: organization.id, email: "doc@sakura.test", name: "Dr. Ito",
                                     passwordHash: nil, role: .admin)
        nurse = try store.createUser(organization: organization.id, email: "nurse@sakura.test", name: "Sato Hanako",
                                     passwordHash: nil, role: .member)
        outsider = try store.createUser(organization: organization.id, email: "other@sakura.test", name: "Outsider",
                                        passwordHash: nil, role: .member)
    }

    /// An empty store location of `backend`: a file in `directory`, or a new PostgreSQL database.
    static func newLocation(_ backend: StoreBackendKind, directory: String) throws -> StoreLocation {
        switch backend {
        case .sqlite: .sqlite(path: directory + "/tsunagu.sqlite")
        case .postgres: .postgres(try PostgresTestServer.shared.get().makeDatabase())
        }
    }

    var backend: StoreBackendKind {
        if case .postgres = location { return .postgres }
        return .sqlite
    }

    /// Another `HubStore` on the same database (a second node, or a restart).
    func reopen(key: MasterKey? = nil) throws -> HubStore {
        try HubStore(location: location, masterKey: key ?? self.key)
    }

    /// Runs SQL behind the store's back (tampering, inspection): answers the first column of the
    /// first row as text, if any.
    @discardableResult
    func raw(_ sql: String) throws -> String? {
        switch location {
        case .sqlite(let path):
            let queue = try DatabaseQueue(path: path)
            defer { try? queue.close() }
            return try queue.write { db in
                try DatabaseValue.fetchOne(db, sql: sql).map { value in
                    value.isNull ? "" : (String.fromDatabaseValue(value) ?? "\(value)")
                }
            }
        case .postgres(let configuration):
            let output = try PostgresTestServer.shared.get().psql(configuration.database, sql)
            return output.isEmpty ? nil : output.split(separator: "\n").first.map(String.init)
        }
    }

    /// The files that hold this store's data at rest: the SQLite file with its WAL and shm, or
    /// the PostgreSQL database's relation files and the server's WAL.
    func filesAtRest() throws -> [String] {
        switch location {
        case .sqlite(let path):
            return ["", "-wal", "-shm"].map { path + $0 }
        case .postgres:
            let server = try PostgresTestServer.shared.get()
            // Flush the store's pages to the relation files, so that they are read as well as the WAL.
            try raw("CHECKPOINT")
            let oid = try raw("SELECT oid FROM pg_database WHERE datname = current_database()") ?? ""
            var files: [String] = []
            for directory in [server.directory + "/data/base/" + oid, server.directory + "/data/pg_wal"] {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                    var isDirectory: ObjCBool = false
                    let path = directory + "/" + name
                    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                        files.append(path)
                    }
                }
            }
            return files
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Carries a fixture from the thread that made it to the test awaiting it (it is used by that
/// test alone afterwards).
private struct FixtureBox: @unchecked Sendable {
    let fixture: StoreFixture
}

/// Runs blocking work (the PostgreSQL test server's tools) on a dispatch thread, not on Swift's
/// cooperative threads, which every other test of the process shares.
func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
