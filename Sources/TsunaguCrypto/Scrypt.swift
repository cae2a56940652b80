internal import COpenSSL

/// The raw scrypt KDF (RFC 7914) via OpenSSL's EVP_PBE_scrypt.
enum Scrypt {
    /// Derives `length` bytes from `password` and `salt` with cost `n` (a power of two > 1),
    /// block size `r` and parallelism `p`.
    /// - Throws: `openSSL("EVP_PBE_scrypt")` if OpenSSL rejects the parameters or runs out of memory.
    static func derive(password: [UInt8], salt: [UInt8], n: UInt64, r: UInt64, p: UInt64, length: Int) throws -> [UInt8] {
        precondition(length > 0, "scrypt output length must be positive")
        // OpenSSL refuses work needing more than `maxmem` bytes (default 32 MiB, just too little
        // for N=2^15, r=8). Allow exactly what RFC 7914 needs: V is 128*r*N bytes, B is
        // 128*r*p bytes, plus OpenSSL's 128*r*(N+2) bookkeeping; callers bound N, r and p first.
        let (v, vOverflow) = (128 * r).multipliedReportingOverflow(by: n + 2)
        let (b, bOverflow) = (128 * r).multipliedReportingOverflow(by: p)
        guard !vOverflow, !bOverflow else { throw CryptoError.openSSL("EVP_PBE_scrypt") }
        let maxMemory = v + b + (1 << 20)

        return try ByteBuffers.make(length) { out in
            let ok = ByteBuffers.with(password) { pw, pwCount in
                ByteBuffers.with(salt) { s, sCount in
                    UnsafeRawPointer(pw).withMemoryRebound(to: CChar.self, capacity: Swift.max(pwCount, 1)) { pass in
                        EVP_PBE_scrypt(pass, pwCount, s, sCount, n, r, p, maxMemory, out, length)
                    }
                }
            }
            guard ok == 1 else {
                ERR_clear_error()
                throw CryptoError.openSSL("EVP_PBE_scrypt")
            }
        }
    }
}
