internal import COpenSSL

/// One-shot message digests.
public enum Digest {
    /// The SHA-256 output length in bytes.
    public static let sha256ByteCount = 32

    /// SHA-256 (FIPS 180-4) of `data`.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        digest(data, EVP_sha256(), byteCount: sha256ByteCount)
    }

    /// SHA-1 of `data`. Only for protocols that fix it where no secret is involved (the RFC 6455
    /// §4.2.2 `Sec-WebSocket-Accept` value); never for integrity or passwords.
    public static func sha1(_ data: [UInt8]) -> [UInt8] {
        digest(data, EVP_sha1(), byteCount: 20)
    }

    private static func digest(_ data: [UInt8], _ algorithm: OpaquePointer?, byteCount: Int) -> [UInt8] {
        ByteBuffers.make(byteCount) { out in
            var length: UInt32 = 0
            let ok = ByteBuffers.with(data) { input, count in
                EVP_Digest(input, count, out, &length, algorithm, nil)
            }
            precondition(ok == 1 && length == UInt32(byteCount), "EVP_Digest failed")
        }
    }

    /// SHA-256 of the UTF-8 encoding of `string`.
    public static func sha256(_ string: String) -> [UInt8] {
        sha256(Array(string.utf8))
    }
}
