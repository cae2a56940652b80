internal import COpenSSL

/// Keyed message authentication (RFC 2104).
public enum HMAC {
    /// HMAC-SHA-256 of `data` under `key`; 32 bytes.
    ///
    /// Only fails if OpenSSL cannot allocate or fetch SHA-256, which leaves the process unable to
    /// do any cryptography, so that is fatal.
    public static func sha256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        precondition(key.count <= Int(Int32.max), "HMAC key too long")
        return ByteBuffers.make(Digest.sha256ByteCount) { out in
            var length: UInt32 = 0
            let result = ByteBuffers.with(key) { k, keyCount in
                ByteBuffers.with(data) { d, dataCount in
                    // Module-qualified: this enum shadows OpenSSL's one-shot HMAC() function.
                    COpenSSL.HMAC(EVP_sha256(), k, Int32(keyCount), d, dataCount, out, &length)
                }
            }
            precondition(result != nil && length == UInt32(Digest.sha256ByteCount), "HMAC failed")
        }
    }
}

extension HMAC {
    /// HMAC-SHA-256 of `data` under `key`, reading the key in place (no copy of it is made).
    public static func sha256(key: SymmetricKey, data: [UInt8]) -> [UInt8] {
        ByteBuffers.make(Digest.sha256ByteCount) { out in
            var length: UInt32 = 0
            let result = key.withKeyPointer { k, keyCount in
                ByteBuffers.with(data) { d, dataCount in
                    COpenSSL.HMAC(EVP_sha256(), k, Int32(keyCount), d, dataCount, out, &length)
                }
            }
            precondition(result != nil && length == UInt32(Digest.sha256ByteCount), "HMAC failed")
        }
    }

    /// Checks a tag like `isValidSHA256(tag:key:data:)`, with the key read in place.
    public static func isValidSHA256(tag: [UInt8], key: SymmetricKey, data: [UInt8]) -> Bool {
        constantTimeEquals(tag, sha256(key: key, data: data))
    }

    /// Checks a received HMAC-SHA-256 tag in constant time (CRYPTO_memcmp), so a forger learns
    /// nothing from how long a wrong guess took.
    public static func isValidSHA256(tag: [UInt8], key: [UInt8], data: [UInt8]) -> Bool {
        constantTimeEquals(tag, sha256(key: key, data: data))
    }
}
