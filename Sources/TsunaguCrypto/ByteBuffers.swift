internal import COpenSSL

/// Pointer plumbing for handing Swift byte arrays to OpenSSL.
///
/// An empty Swift array may expose a nil base address, and several OpenSSL entry points treat a
/// NULL input as "no data" with different semantics (GCM update with out == NULL means AAD), or
/// reject it outright. These helpers always pass a valid pointer, plus the real length.
enum ByteBuffers {
    private static let placeholder: [UInt8] = [0]

    /// Calls `body` with a non-nil pointer to `bytes` and its count (0 for an empty array).
    static func with<R>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>, Int) throws -> R) rethrows -> R {
        let source = bytes.isEmpty ? placeholder : bytes
        return try source.withUnsafeBufferPointer { buffer in
            try body(buffer.baseAddress!, bytes.count)
        }
    }

    /// Allocates `count` bytes, lets `body` fill them and returns the array.
    /// The buffer is at least one byte so OpenSSL never sees a NULL output pointer.
    static func make(_ count: Int, _ body: (UnsafeMutablePointer<UInt8>) throws -> Void) rethrows -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Swift.max(count, 1))
        try out.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
        if count == 0 { out.removeAll() }
        return out
    }
}

/// Constant-time equality of two equal-length byte arrays via CRYPTO_memcmp.
/// Lengths are public (they are format constants), so a length mismatch returns early.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return ByteBuffers.with(a) { pa, n in
        ByteBuffers.with(b) { pb, _ in CRYPTO_memcmp(pa, pb, n) == 0 }
    }
}
