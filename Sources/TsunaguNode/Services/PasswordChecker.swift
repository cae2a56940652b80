import NIOPosix
import Synchronization
import TsunaguCrypto

/// Hashes and checks passwords on a dedicated thread pool: scrypt takes tens of milliseconds and
/// 32 MiB by design, so it never runs on the event loops or the cooperative pool that every
/// connection's task shares. Started and stopped with the node.
final class PasswordChecker: Sendable {
    private let hasher: PasswordHasher
    private let pool = NIOThreadPool(numberOfThreads: 2)
    /// Checked for unknown users, so that timing does not reveal which addresses exist.
    private let dummyHash: String

    init(hasher: PasswordHasher) {
        self.hasher = hasher
        self.dummyHash = hasher.hash("tsunagu-dummy-password")
    }

    func start() { pool.start() }
    func shutdown() async throws { try await pool.shutdownGracefully() }

    /// Passwords hashed since start (each an scrypt run): unauthenticated requests must not
    /// cause one cheaply (docs/security.md, "Unauthenticated work").
    let hashesComputed = Atomic<Int>(0)

    func hash(_ password: String) async throws -> String {
        hashesComputed.add(1, ordering: .relaxed)
        let hasher = self.hasher
        return try await pool.runIfActive { hasher.hash(password) }
    }

    /// Whether `stored` was made with weaker parameters than this node's (re-hash at login).
    func needsRehash(_ stored: String) -> Bool { hasher.needsRehash(stored) }

    /// Constant time; for an unknown user (`hash` nil) a dummy hash is checked anyway.
    func verify(_ password: String, hash: String?) async throws -> Bool {
        let hasher = self.hasher
        let stored = hash ?? dummyHash
        let valid = try await pool.runIfActive { hasher.verify(password, against: stored) }
        return hash != nil && valid
    }
}
