import Synchronization
import Testing
@testable import TsunaguCrypto

/// Key material is cleansed when the last copy of a key is dropped (issue 12 item 5).
@Suite(.serialized) struct KeyZeroingTests {
    /// What the deinit hook saw for the one buffer this test watches.
    private final class Seen: Sendable {
        let address: UInt
        let bytes = Mutex<[UInt8]?>(nil)
        init(address: UInt) { self.address = address }
    }

    private func address(of key: SymmetricKey) -> UInt {
        key.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    /// Drops every copy of `makeKey()`'s result and answers the bytes its buffer held right
    /// before it was freed (observed by the hook, never read after free).
    private func bytesAtRelease(_ makeKey: () -> SymmetricKey) -> [UInt8]? {
        var watched: Seen?
        do {
            let key = makeKey()
            let copy = key  // copies share the buffer: it is cleansed once, when the last goes
            #expect(copy == key)
            let seen = Seen(address: address(of: key))
            watched = seen
            KeyBytes.cleansedObserver.withLock {
                $0 = { buffer in
                    guard UInt(bitPattern: buffer.baseAddress) == seen.address else { return }
                    seen.bytes.withLock { $0 = Array(buffer) }
                }
            }
            #expect(seen.bytes.withLock { $0 } == nil, "the buffer is not released while a copy is alive")
            _ = copy.bytes.count
        }
        KeyBytes.cleansedObserver.withLock { $0 = nil }
        return watched?.bytes.withLock { $0 }
    }

    @Test func aDroppedRandomKeyLeavesOnlyZeros() {
        let released = bytesAtRelease { SymmetricKey.random() }
        #expect(released == [UInt8](repeating: 0, count: SymmetricKey.byteCount))
    }

    @Test func aDroppedDerivedKeyLeavesOnlyZeros() {
        let master = MasterKey(key: SymmetricKey.random())
        let released = bytesAtRelease { master.derivedKey(purpose: "blind-index") }
        #expect(released == [UInt8](repeating: 0, count: SymmetricKey.byteCount))
    }

    @Test func aDroppedUnwrappedDataKeyLeavesOnlyZeros() throws {
        let wrapper = KeyWrapper(master: MasterKey(key: SymmetricKey.random()))
        let wrapped = wrapper.wrap(SymmetricKey.random(), id: "dk_test")
        let released = bytesAtRelease { try! wrapper.unwrap(wrapped, id: "dk_test") }
        #expect(released == [UInt8](repeating: 0, count: SymmetricKey.byteCount))
    }
}
