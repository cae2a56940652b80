import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// A node's connections to a PostgreSQL store and the threads that drive them (docs/storage.md,
/// "PostgreSQL"). Store operations run synchronously on these threads (the executor blocks on
/// each query), never on the connections' own event loop or on Swift's cooperative threads.
///
/// - `connections`: a fixed set shared by reads and one-off write transactions;
/// - `commitLane`: one thread with its own connection for the group committer's batches, so
///   that a batch never waits behind reads for a connection.
/// A connection found closed (PostgreSQL restarted) is replaced on its next use; while PostgreSQL
/// is down every operation fails at once with an "unavailable" error (`StoreError.isUnavailable`).
final class PostgresBackend: Sendable {
    let configuration: PostgresStoreConfiguration
    let group: MultiThreadedEventLoopGroup
    let threads: NIOThreadPool
    let commitLane: NIOThreadPool
    private let pool: ConnectionSet
    private let laneConnection: ConnectionSet
    private let connect: Connector
    let logger: Logger

    static let notifyChannel = "tsunagu_events"

    init(configuration: PostgresStoreConfiguration, connections: Int = 6) throws {
        self.configuration = configuration
        var logger = Logger(label: "tsunagu.store.postgres")
        logger.logLevel = .critical
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        threads = NIOThreadPool(numberOfThreads: connections)
        threads.start()
        commitLane = NIOThreadPool(numberOfThreads: 1)
        commitLane.start()
        let connect = try Self.connector(configuration, group: group, logger: logger)
        self.connect = connect
        pool = ConnectionSet(size: connections, connect: connect)
        laneConnection = ConnectionSet(size: 1, connect: connect)
    }

    func shutdown() {
        pool.closeAll()
        laneConnection.closeAll()
        try? threads.syncShutdownGracefully()
        try? commitLane.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
    }

    /// Opens one connection: TLS as configured, `synchronous_commit = on` (an acknowledged write
    /// is on the server's disk), times in UTC.
    typealias Connector = @Sendable () throws -> PostgresConnection

    static func connector(_ configuration: PostgresStoreConfiguration, group: MultiThreadedEventLoopGroup,
                          logger: Logger) throws -> Connector {
        let tls: PostgresConnection.Configuration.TLS
        switch configuration.tlsMode {
        case .disable:
            tls = .disable
        case .require, .verifyFull:
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.minimumTLSVersion = .tlsv12
            if configuration.tlsMode == .require {
                tlsConfiguration.certificateVerification = .none
            } else {
                tlsConfiguration.certificateVerification = .fullVerification
                if let root = configuration.rootCertificatePath {
                    tlsConfiguration.trustRoots = .file(root)
                }
            }
            tls = .require(try NIOSSLContext(configuration: tlsConfiguration))
        }
        var connectionConfiguration = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user,
            password: configuration.password, database: configuration.database, tls: tls)
        connectionConfiguration.options.connectTimeout = .seconds(5)
        if configuration.tlsMode == .verifyFull { connectionConfiguration.options.tlsServerName = configuration.host }
        let counter = ConnectionCounter()
        let settings = connectionConfiguration
        return {
            let connection = try blockingWait(PostgresConnection.connect(
                on: group.next(), configuration: settings, id: counter.next(), logger: logger))
            let setup = PostgresExecutor(connection: connection, logger: logger)
            do {
                try setup.simple("SET synchronous_commit = on")
            } catch {
                // postgres-nio asserts that no connection is dropped before it is closed.
                try? blockingWait(connection.close())
                throw error
            }
            return connection
        }
    }

    enum TransactionKind {
        /// READ COMMITTED, the default: writers lock what their invariants read (`SQLDialect`).
        case write
        /// One consistent snapshot for a read of several statements.
        case read
    }

    /// Runs `body` in one transaction on a pooled connection, on the calling thread.
    func transaction<T>(_ kind: TransactionKind, _ body: (PostgresExecutor) throws -> T) throws -> T {
        try Self.onLiveConnection(pool) { connection in try Self.transaction(kind, connection: connection, logger: logger, body) }
    }

    /// The same on the commit lane's own connection (call it on `commitLane`).
    func laneTransaction<T>(_ body: (PostgresExecutor) throws -> T) throws -> T {
        try Self.onLiveConnection(laneConnection) { connection in
            try Self.transaction(.write, connection: connection, logger: logger, body)
        }
    }

    /// After PostgreSQL restarts, every pooled connection is dead until used once. A transaction
    /// whose `BEGIN` fails for connection reasons has done nothing, so it runs again, once, on a
    /// fresh connection: the first operations after a restart succeed instead of each pooled
    /// connection failing one of them.
    private static func onLiveConnection<T>(_ connections: ConnectionSet,
                                            _ body: (PostgresConnection) throws -> T) throws -> T {
        do {
            return try connections.with(body)
        } catch is NotBegun {
            do {
                return try connections.with(body)
            } catch let again as NotBegun {
                throw again.error
            }
        }
    }

    private static func transaction<T>(_ kind: TransactionKind, connection: PostgresConnection, logger: Logger,
                                       _ body: (PostgresExecutor) throws -> T) throws -> T {
        let executor = PostgresExecutor(connection: connection, logger: logger)
        // Statements whose answer nobody needs at once are sent without waiting for it (the
        // connection runs them in order; an error surfaces at the next awaited statement): BEGIN,
        // a read's COMMIT, a write's NOTIFY. Each saves a trip through this thread, which on this
        // kind of machine costs more than PostgreSQL's own work for the statement.
        executor.pipeline(kind == .read ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN")
        executor.isInsideTransaction = true
        var committing = false
        do {
            let result = try body(executor)
            if kind == .write {
                try notifyAppended(executor)
                committing = true
                try executor.simple("COMMIT")
            } else {
                // A read-only transaction has nothing to make durable: its COMMIT only ends it.
                executor.pipeline("COMMIT")
            }
            executor.isInsideTransaction = false
            return result
        } catch {
            // A read that met a dead connection (PostgreSQL restarted) changed nothing: it may run
            // again on a fresh one. So may a write that did before any statement of it answered
            // (its BEGIN included) and before its COMMIT was sent: nothing of it can have committed.
            if executor.isBroken && (kind == .read || (executor.answered == 0 && !committing)) {
                throw NotBegun(error: error)
            }
            if !connection.isClosed && !executor.isBroken { try? executor.simple("ROLLBACK") }
            throw error
        }
    }

    /// One `pg_notify` per transaction (a group commit's batch is one transaction) naming the
    /// timelines and seq ranges it appended, never content. Sent inside the transaction, so
    /// PostgreSQL delivers it on commit and never for a rolled-back batch. Payloads are split
    /// below PostgreSQL's 8000-byte limit.
    private static func notifyAppended(_ executor: PostgresExecutor) throws {
        guard !executor.appended.isEmpty else { return }
        for payload in CommitNotice.payloads(executor.appended) {
            try executor.sendWithoutWaiting(sql: "SELECT pg_notify(?, ?)", arguments: [notifyChannel, payload])
        }
    }
}

extension PostgresBackend {
    /// Listens for the store's change notifications on a dedicated connection until the task is
    /// cancelled, reconnecting with backoff (0.1 s doubling to 5 s) when PostgreSQL restarts or
    /// the connection drops. `onConnected` runs each time LISTEN is in place: notifications sent
    /// while there was none are lost, so the caller compares heads then (the repair sweep).
    func listenForChanges(onConnected: @escaping @Sendable () -> Void,
                          onChanges: @escaping @Sendable ([CommitNotice.Range]) -> Void) async {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            let connect = self.connect
            if let connection = try? await threads.runIfActive({ try connect() }) {
                do {
                    try await connection.listen(on: Self.notifyChannel) { notifications in
                        onConnected()
                        backoff = .milliseconds(100)
                        for try await notification in notifications {
                            onChanges(CommitNotice.parse(notification.payload))
                        }
                    }
                } catch {
                    // The connection dropped (or LISTEN failed): reconnect below.
                }
                try? await connection.close()
            }
            guard !Task.isCancelled else { return }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}

/// A transaction's `BEGIN` failed for connection reasons: nothing ran, so it may run again.
private struct NotBegun: Error {
    let error: any Error
}

/// Ids for postgres-nio's connection logging.
private final class ConnectionCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

/// A fixed number of connections handed out one at a time; a caller waits while all are in use.
/// Connections are opened on first use and reopened when found closed.
private final class ConnectionSet: @unchecked Sendable {
    private let condition = NSCondition()
    private var idle: [PostgresConnection?]
    private let connect: PostgresBackend.Connector

    init(size: Int, connect: @escaping PostgresBackend.Connector) {
        idle = Array(repeating: nil, count: size)
        self.connect = connect
    }

    func with<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        condition.lock()
        while idle.isEmpty { condition.wait() }
        var slot = idle.removeLast()
        condition.unlock()
        defer {
            condition.lock()
            idle.append(slot)
            condition.signal()
            condition.unlock()
        }
        if slot == nil || slot!.isClosed {
            slot = nil
            do {
                slot = try connect()
            } catch let error as PSQLError where error.serverInfo != nil {
                throw error  // the server answered: wrong password, no such database, …
            } catch {
                throw PostgresUnreachable(reason: "\(error)")
            }
        }
        do {
            return try body(slot!)
        } catch {
            // A connection that failed for connection reasons (PostgreSQL shut down, a reset) is
            // dropped even if the client has not noticed the close yet: the next use opens a new one.
            if slot!.isClosed || error is NotBegun || (StoreError.isUnavailable(error) && !StoreError.isRetryable(error)) {
                // The closure holds the connection until it is closed: postgres-nio asserts that
                // none is deinitialized before (a debug build's node crashed there).
                let dying = slot!
                dying.close().whenComplete { _ in _ = dying }
                slot = nil
            }
            throw error
        }
    }

    func closeAll() {
        condition.lock()
        let open = idle.compactMap { $0 }
        condition.unlock()
        for connection in open { try? blockingWait(connection.close()) }
    }
}

/// The payload of the store's change notification: `timeline:first-last` ranges joined by `,`.
/// Ids and numbers only: a notification is readable by anyone who may LISTEN on the database.
public enum CommitNotice {
    public struct Range: Equatable, Sendable {
        public var timeline: String
        public var first: Int64
        public var last: Int64
    }

    static func payloads(_ appended: [(timeline: String, seq: Int64)]) -> [String] {
        var ranges: [String: (Int64, Int64)] = [:]
        var order: [String] = []
        for (timeline, seq) in appended {
            if let range = ranges[timeline] {
                ranges[timeline] = (min(range.0, seq), max(range.1, seq))
            } else {
                ranges[timeline] = (seq, seq)
                order.append(timeline)
            }
        }
        var payloads: [String] = []
        var current = ""
        for timeline in order {
            let (first, last) = ranges[timeline]!
            let item = "\(timeline):\(first)-\(last)"
            if !current.isEmpty && current.utf8.count + item.utf8.count + 1 > 7_000 {
                payloads.append(current)
                current = ""
            }
            current += current.isEmpty ? item : "," + item
        }
        if !current.isEmpty { payloads.append(current) }
        return payloads
    }

    /// Parses a payload; malformed items are skipped (a notification is only a hint).
    public static func parse(_ payload: String) -> [Range] {
        payload.split(separator: ",").compactMap { item in
            guard let colon = item.lastIndex(of: ":") else { return nil }
            let bounds = item[item.index(after: colon)...].split(separator: "-")
            guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]) else { return nil }
            return Range(timeline: String(item[..<colon]), first: first, last: last)
        }
    }
}

/// No connection to PostgreSQL could be opened (refused, timed out, TLS failed): the store is
/// unavailable until it can (`StoreError.isUnavailable`).
public struct PostgresUnreachable: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "cannot connect to PostgreSQL: \(reason)" }
}
