internal import COpenSSL

/// AES-256-GCM (NIST SP 800-38D) with a self-describing sealed format:
///
///     version 0x01 || 12-byte random nonce || ciphertext || 16-byte tag
///
/// Nonces are random 96-bit values. SP 800-38D section 8.3 limits random-IV GCM to 2^32
/// invocations per key to keep the collision probability below 2^-32; data keys are rotated
/// long before that (see `FieldCipher`).
public enum AESGCM {
    static let version: UInt8 = 0x01
    /// 96 bits: SP 800-38D section 5.2.1.1 recommends 96-bit IVs for efficiency and interoperability.
    static let nonceByteCount = 12
    /// The full 128-bit tag; SP 800-38D Appendix C discourages truncation.
    static let tagByteCount = 16
    static let overhead = 1 + nonceByteCount + tagByteCount

    /// Encrypts and authenticates `plaintext`, authenticating (not encrypting) `associatedData`.
    public static func seal(_ plaintext: [UInt8], key: SymmetricKey, associatedData: [UInt8]) -> [UInt8] {
        let nonce = SecureRandom.bytes(nonceByteCount)
        let (ciphertext, tag) = sealRaw(plaintext, key: key, nonce: nonce, associatedData: associatedData)
        return [version] + nonce + ciphertext + tag
    }

    /// Verifies and decrypts a blob produced by `seal`.
    /// - Throws: `malformedCiphertext` if too short or the version is unknown;
    ///   `authenticationFailed` on a wrong key, wrong associated data or any tampering.
    public static func open(_ sealed: [UInt8], key: SymmetricKey, associatedData: [UInt8]) throws -> [UInt8] {
        guard sealed.count >= overhead, sealed[0] == version else { throw CryptoError.malformedCiphertext }
        let nonce = Array(sealed[1 ..< 1 + nonceByteCount])
        let ciphertext = Array(sealed[1 + nonceByteCount ..< sealed.count - tagByteCount])
        let tag = Array(sealed[(sealed.count - tagByteCount)...])
        return try openRaw(ciphertext, tag: tag, key: key, nonce: nonce, associatedData: associatedData)
    }

    // MARK: - Raw primitive (fixed nonce; internal so known-answer tests can reach it)

    /// AES-256-GCM encryption with a caller-chosen nonce. Never reuse a nonce under one key.
    static func sealRaw(_ plaintext: [UInt8], key: SymmetricKey, nonce: [UInt8],
                        associatedData: [UInt8]) -> (ciphertext: [UInt8], tag: [UInt8]) {
        do {
            return try crypt(encrypt: true, input: plaintext, key: key, nonce: nonce,
                             associatedData: associatedData, tag: nil)
        } catch {
            // Encryption only fails on allocation failure or a broken OpenSSL install.
            preconditionFailure("AES-256-GCM encryption failed: \(error)")
        }
    }

    /// AES-256-GCM decryption and tag verification with an explicit nonce and tag.
    static func openRaw(_ ciphertext: [UInt8], tag: [UInt8], key: SymmetricKey, nonce: [UInt8],
                        associatedData: [UInt8]) throws -> [UInt8] {
        guard tag.count == tagByteCount else { throw CryptoError.malformedCiphertext }
        return try crypt(encrypt: false, input: ciphertext, key: key, nonce: nonce,
                         associatedData: associatedData, tag: tag).ciphertext
    }

    private static func crypt(encrypt: Bool, input: [UInt8], key: SymmetricKey, nonce: [UInt8],
                              associatedData: [UInt8], tag: [UInt8]?) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        precondition(nonce.count == nonceByteCount, "AES-256-GCM needs a 12-byte nonce")
        guard input.count < Int(Int32.max), associatedData.count < Int(Int32.max) else {
            throw CryptoError.malformedCiphertext
        }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSL("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        // Leave no stale entries in this thread's OpenSSL error queue for unrelated callers.
        func fail(_ call: String) -> CryptoError { ERR_clear_error(); return .openSSL(call) }

        let direction: Int32 = encrypt ? 1 : 0
        guard EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nil, nil, nil, direction) == 1 else { throw fail("EVP_CipherInit_ex") }
        guard tsunagu_gcm_set_ivlen(ctx, Int32(nonceByteCount)) == 1 else { throw fail("EVP_CTRL_GCM_SET_IVLEN") }
        let keyed = key.withKeyPointer { k, _ in
            ByteBuffers.with(nonce) { n, _ in EVP_CipherInit_ex(ctx, nil, nil, k, n, direction) }
        }
        guard keyed == 1 else { throw fail("EVP_CipherInit_ex") }

        var outLength: Int32 = 0
        if !associatedData.isEmpty {
            // A NULL output pointer tells GCM that this update is additional authenticated data.
            let ok = ByteBuffers.with(associatedData) { a, n in EVP_CipherUpdate(ctx, nil, &outLength, a, Int32(n)) }
            guard ok == 1 else { throw fail("EVP_CipherUpdate") }
        }
        var output = [UInt8](repeating: 0, count: input.count + 16)
        var written = 0
        try output.withUnsafeMutableBufferPointer { out in
            if !input.isEmpty {
                let ok = ByteBuffers.with(input) { i, n in EVP_CipherUpdate(ctx, out.baseAddress!, &outLength, i, Int32(n)) }
                guard ok == 1 else { throw fail("EVP_CipherUpdate") }
                written = Int(outLength)
            }
            if var expected = tag {
                let ok = expected.withUnsafeMutableBufferPointer { tsunagu_gcm_set_tag(ctx, $0.baseAddress!, Int32(tagByteCount)) }
                guard ok == 1 else { throw fail("EVP_CTRL_GCM_SET_TAG") }
            }
            // For decryption, Final is where the tag is checked; failure there is an authentication failure.
            guard EVP_CipherFinal_ex(ctx, out.baseAddress! + written, &outLength) == 1 else {
                ERR_clear_error()
                throw encrypt ? CryptoError.openSSL("EVP_CipherFinal_ex") : CryptoError.authenticationFailed
            }
            written += Int(outLength)
        }
        output.removeSubrange(written...)
        guard encrypt else { return (output, []) }
        let computedTag = try ByteBuffers.make(tagByteCount) { t in
            guard tsunagu_gcm_get_tag(ctx, t, Int32(tagByteCount)) == 1 else { throw fail("EVP_CTRL_GCM_GET_TAG") }
        }
        return (output, computedTag)
    }
}
