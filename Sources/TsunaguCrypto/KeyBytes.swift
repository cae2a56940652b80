internal import COpenSSL
import Synchronization

/// The memory behind one `SymmetricKey`: a heap buffer that only this object points to, cleansed
/// with OPENSSL_cleanse (which the optimizer may not elide, unlike a plain memset of memory about
/// to be freed) when the last key value sharing it is dropped. A Swift array could not promise
/// that: it may be copied, grown or moved, leaving key bytes behind in freed heap blocks.
final class KeyBytes: Sendable {
    /// Written once in `init`, then only read until `deinit` cleanses it; never handed out
    /// mutably, so sharing it between threads is safe.
    nonisolated(unsafe) private let buffer: UnsafeMutableRawBufferPointer

    init(copying bytes: some Collection<UInt8>) {
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        buffer.copyBytes(from: bytes)
    }

    var count: Int { buffer.count }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(buffer))
    }

    deinit {
        if let base = buffer.baseAddress {
            OPENSSL_cleanse(base, buffer.count)
        }
        if let observe = Self.cleansedObserver.withLock({ $0 }) {
            observe(UnsafeRawBufferPointer(buffer))
        }
        buffer.deallocate()
    }

    /// Test hook: called from `deinit` with the buffer after it was cleansed and before it is
    /// freed, so a test can see that nothing of the key remains (no read after free).
    static let cleansedObserver = Mutex<(@Sendable (UnsafeRawBufferPointer) -> Void)?>(nil)
}
