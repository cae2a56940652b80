/// Round-robin choice of the backend for the next connection. A pure value: no I/O, no clock.
///
/// The rotation is kept as "the id picked last", not as an index. Candidates are ordered by id
/// and the next pick is the first id after the last one, wrapping round. An index into a list
/// that changes would skip or repeat backends whenever a node joins or leaves; remembering the
/// last id keeps the ring fair across changes: a backend that joins takes its place in the ring
/// and is reached within one turn, and one that leaves is simply never reached again.
public struct RoundRobinPicker: Sendable, Hashable {
    /// The id of the backend picked last, the position of the ring.
    public private(set) var lastPickedID: String?

    public init() {}

    /// The next backend in rotation among the available ones, or `nil` if there is none.
    /// Advances the rotation by one.
    public mutating func next(
        from backends: [Backend],
        isAvailable: (Backend) -> Bool = { _ in true }
    ) -> Backend? {
        self.attemptOrder(from: backends, isAvailable: isAvailable).first
    }

    /// The order in which to try backends for one connection: the next backend in rotation
    /// first, then each other available backend once, in ring order, for retries when a connect
    /// is refused or times out. Empty when no backend is available.
    ///
    /// Advances the rotation by one only: a retry does not make the next connection skip a
    /// backend, so a single refusing node does not disturb the spread over the others.
    public mutating func attemptOrder(
        from backends: [Backend],
        isAvailable: (Backend) -> Bool = { _ in true }
    ) -> [Backend] {
        var candidates = backends.filter(isAvailable)
        guard !candidates.isEmpty else { return [] }
        candidates.sort { $0.id < $1.id }
        // The directory is supposed to hold each id once; if it does not, the first entry wins so
        // that one id never gets two turns of the ring.
        var unique: [Backend] = []
        unique.reserveCapacity(candidates.count)
        for backend in candidates where unique.last?.id != backend.id {
            unique.append(backend)
        }

        let start: Int
        if let last = self.lastPickedID, let after = unique.firstIndex(where: { $0.id > last }) {
            start = after
        } else {
            start = 0
        }
        self.lastPickedID = unique[start].id
        return Array(unique[start...] + unique[..<start])
    }
}
