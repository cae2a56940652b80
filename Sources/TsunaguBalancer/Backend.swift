import Synchronization

/// One realtime node the balancer may send client connections to.
///
/// `id` is the node's stable name in the membership registry; the picker orders backends by it,
/// so the rotation is the same on every balancer and does not depend on the order the directory
/// returns them in.
public struct Backend: Hashable, Sendable, CustomStringConvertible {
    public var id: String
    public var host: String
    public var port: Int

    public init(id: String, host: String, port: Int) {
        self.id = id
        self.host = host
        self.port = port
    }

    public var description: String { "\(self.id)@\(self.host):\(self.port)" }
}

/// Where the live nodes come from; the production one reads the store's membership registry.
///
/// The balancer polls it every `BalancerConfiguration.directoryRefresh`. A node that is draining
/// or dead must not be returned: leaving the list is how a node stops receiving new connections.
/// When `backends()` throws, the balancer keeps the last list it had (a store hiccup must not
/// empty the cluster) and tries again at the next refresh.
public protocol BackendDirectory: Sendable {
    func backends() async throws -> [Backend]
}

/// A fixed list of backends, for fixed setups.
public struct StaticBackendDirectory: BackendDirectory {
    public var members: [Backend]

    public init(_ members: [Backend]) {
        self.members = members
    }

    public func backends() async throws -> [Backend] {
        self.members
    }
}

/// The in-memory twin of the membership registry: a list that tests (and embedding code) change
/// while the balancer runs.
public final class InMemoryBackendDirectory: BackendDirectory {
    private let members: Mutex<[Backend]>

    public init(_ members: [Backend] = []) {
        self.members = Mutex(members)
    }

    public func backends() async throws -> [Backend] {
        self.members.withLock { $0 }
    }

    /// Replaces the whole list.
    public func set(_ members: [Backend]) {
        self.members.withLock { $0 = members }
    }

    /// Adds a backend, replacing any with the same id.
    public func add(_ backend: Backend) {
        self.members.withLock { members in
            members.removeAll { $0.id == backend.id }
            members.append(backend)
        }
    }

    /// Removes the backend with this id, as the registry does when a node drains or dies.
    public func remove(id: String) {
        self.members.withLock { members in
            members.removeAll { $0.id == id }
        }
    }
}
