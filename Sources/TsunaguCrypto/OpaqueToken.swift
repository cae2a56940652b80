/// Session and link tokens: random, shown to the client once, stored only as SHA-256.
///
/// 256 random bits make guessing infeasible and make an unsalted fast hash sufficient: unlike
/// passwords there is nothing to brute-force, and the database never holds a usable token.
public enum OpaqueToken {
    /// A new token (43 base64url characters) and the hash to store for it.
    public static func generate() -> (token: String, hash: [UInt8]) {
        let token = SecureRandom.token()
        return (token, hash(token))
    }

    /// SHA-256 of the token's UTF-8 bytes: what is stored and looked up.
    public static func hash(_ token: String) -> [UInt8] {
        Digest.sha256(token)
    }
}
