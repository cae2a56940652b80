internal import COpenSSL

/// Cryptographically secure random bytes from OpenSSL's RAND_bytes (a NIST SP 800-90A DRBG
/// seeded from the operating system).
public enum SecureRandom {
    /// `count` random bytes.
    ///
    /// A RAND_bytes failure means the DRBG could not be seeded; continuing would risk repeated
    /// nonces and predictable keys, so it is fatal rather than thrown.
    public static func bytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0 && count <= Int(Int32.max), "SecureRandom.bytes: invalid count")
        return ByteBuffers.make(count) { out in
            if count > 0 {
                precondition(RAND_bytes(out, Int32(count)) == 1, "RAND_bytes failed")
            }
        }
    }

    /// 32 random bytes (256 bits) as base64url without padding: 43 URL- and header-safe characters.
    public static func token() -> String {
        ByteEncoding.base64URL(bytes(32))
    }
}
