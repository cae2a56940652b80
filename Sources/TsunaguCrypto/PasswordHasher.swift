/// Memory-hard password hashing with scrypt (RFC 7914), in a self-describing string:
///
///     $scrypt$ln=15,r=8,p=1$<salt base64 no padding>$<hash base64 no padding>
///
/// with a 16-byte random salt and a 32-byte hash. The parameters travel with each hash, so they
/// can be raised later: `needsRehash` tells the login path when to re-hash a correct password.
public struct PasswordHasher: Sendable {
    /// The scrypt cost parameters: N = 2^logN, block size r, parallelism p.
    public struct Parameters: Sendable, Equatable {
        public var logN: Int
        public var r: Int
        public var p: Int

        public init(logN: Int, r: Int, p: Int) {
            self.logN = logN
            self.r = r
            self.p = p
        }

        /// N = 2^15, r = 8, p = 1: 32 MiB and roughly 0.1 s per hash. RFC 7914 section 2 suggests
        /// r = 8, p = 1; the OWASP Password Storage Cheat Sheet lists N=2^15 (and up) with r=8, p=1.
        public static let standard = Parameters(logN: 15, r: 8, p: 1)

        /// N = 2^10, r = 8, p = 1: fast enough for unit tests; never use for real passwords.
        public static let fastForTests = Parameters(logN: 10, r: 8, p: 1)

        /// Bounds on parameters accepted from stored strings, so a corrupted or hostile row cannot
        /// make one login allocate gigabytes or run for minutes: N ≤ 2^20, r·p ≤ 64, and scrypt's
        /// 128·r·N bytes of memory ≤ 256 MiB (8x the standard setting).
        var isWithinLimits: Bool {
            guard (1...20).contains(logN), (1...64).contains(r), (1...64).contains(p), r * p <= 64 else { return false }
            return 128 * (r << logN) <= 256 << 20
        }
    }

    static let saltByteCount = 16
    static let hashByteCount = 32

    /// The parameters used for new hashes.
    public let parameters: Parameters

    /// A hasher that hashes with `parameters` (which must be within the accepted limits).
    public init(parameters: Parameters = .standard) {
        precondition(parameters.isWithinLimits, "scrypt parameters out of range")
        self.parameters = parameters
    }

    /// Hashes `password` (its UTF-8 bytes) with a fresh random salt.
    public func hash(_ password: String) -> String {
        let salt = SecureRandom.bytes(Self.saltByteCount)
        let hash: [UInt8]
        do {
            hash = try Self.derive(password, salt: salt, parameters: parameters)
        } catch {
            preconditionFailure("scrypt failed with validated parameters: \(error)")
        }
        return ScryptHashString(parameters: parameters, salt: salt, hash: hash).encoded
    }

    /// Checks `password` against a string produced by `hash`.
    ///
    /// The parameters come from `stored`, not from `self`, so old hashes keep verifying after
    /// the defaults are raised. The comparison is constant-time (CRYPTO_memcmp). A malformed
    /// string or out-of-range parameters return false; this never traps.
    public func verify(_ password: String, against stored: String) -> Bool {
        guard let parsed = ScryptHashString(parsing: stored),
              let candidate = try? Self.derive(password, salt: parsed.salt, parameters: parsed.parameters)
        else { return false }
        return constantTimeEquals(candidate, parsed.hash)
    }

    /// True when `stored` used weaker parameters (or a shorter salt) than this hasher, or cannot
    /// be parsed; call after a successful `verify` to upgrade the stored hash.
    public func needsRehash(_ stored: String) -> Bool {
        guard let parsed = ScryptHashString(parsing: stored) else { return true }
        let old = parsed.parameters
        return old.logN < parameters.logN || old.r < parameters.r || old.p < parameters.p
            || parsed.salt.count < Self.saltByteCount
    }

    private static func derive(_ password: String, salt: [UInt8], parameters: Parameters) throws -> [UInt8] {
        try Scrypt.derive(password: Array(password.utf8), salt: salt, n: 1 << UInt64(parameters.logN),
                          r: UInt64(parameters.r), p: UInt64(parameters.p), length: hashByteCount)
    }
}
