import NIOConcurrencyHelpers
import NIOCore

/// One object per event loop, created on first use: the loop-wide helpers (`LoopFlusher`,
/// `KeepAliveSweeper`) that serve every connection of a loop. An object holds its loop, so an
/// identifier is never reused for another loop while it is in the table (loops are few and
/// long-lived). `forLoop` may be called from any thread.
final class PerLoop<Value: AnyObject & Sendable>: Sendable {
    private let table = NIOLockedValueBox<[ObjectIdentifier: Value]>([:])
    private let make: @Sendable (EventLoop) -> Value

    init(_ make: @escaping @Sendable (EventLoop) -> Value) { self.make = make }

    func forLoop(_ loop: EventLoop) -> Value {
        self.table.withLockedValue { table in
            if let value = table[ObjectIdentifier(loop)] { return value }
            let value = self.make(loop)
            table[ObjectIdentifier(loop)] = value
            return value
        }
    }
}
