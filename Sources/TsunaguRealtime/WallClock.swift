import Foundation
import Synchronization

/// Wall-clock time in milliseconds since 1970, as the core reads it (session expiry, the
/// malformed-message window). The node uses the system's; tests move a manual one.
public protocol WallClock: Sendable {
    var nowMillis: Int64 { get }
}

public struct SystemWallClock: WallClock {
    public init() {}
    public var nowMillis: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// The clock's twin for tests: time moves only when told.
public final class ManualWallClock: WallClock {
    private let now: Atomic<Int64>

    public init(nowMillis: Int64 = 1_800_000_000_000) { self.now = Atomic(nowMillis) }

    public var nowMillis: Int64 { now.load(ordering: .relaxed) }

    public func advance(millis: Int64) { now.add(millis, ordering: .relaxed) }
}
