internal import COpenSSL

/// HMAC-based key derivation.
public enum HKDF {
    /// RFC 5869 HKDF-SHA-256.
    ///
    /// `outputLength` must be in 1...8160: RFC 5869 section 2.3 caps L at 255 * HashLen.
    /// An empty `salt` means HashLen zero bytes (RFC 5869 section 2.2).
    public static func sha256(inputKey: [UInt8], salt: [UInt8], info: [UInt8], outputLength: Int) -> [UInt8] {
        precondition(outputLength > 0 && outputLength <= 255 * Digest.sha256ByteCount,
                     "HKDF output length must be 1...\(255 * Digest.sha256ByteCount)")
        return ByteBuffers.make(outputLength) { out in
            let ok = ByteBuffers.with(inputKey) { k, kn in
                ByteBuffers.with(salt) { s, sn in
                    ByteBuffers.with(info) { i, iN in
                        tsunagu_hkdf_sha256(k, kn, s, sn, i, iN, out, outputLength)
                    }
                }
            }
            precondition(ok == 1, "EVP_KDF_derive (HKDF) failed")
        }
    }

    /// HKDF-SHA-256 from key material held in a `SymmetricKey`, read in place; the output array
    /// is handed straight to a new key, which cleanses it.
    static func sha256(inputKey: SymmetricKey, info: [UInt8]) -> SymmetricKey {
        let okm = ByteBuffers.make(SymmetricKey.byteCount) { out in
            let ok = inputKey.withKeyPointer { k, kn in
                ByteBuffers.with([]) { s, sn in
                    ByteBuffers.with(info) { i, iN in
                        tsunagu_hkdf_sha256(k, kn, s, sn, i, iN, out, SymmetricKey.byteCount)
                    }
                }
            }
            precondition(ok == 1, "EVP_KDF_derive (HKDF) failed")
        }
        return SymmetricKey(unchecked: okm)
    }
}
