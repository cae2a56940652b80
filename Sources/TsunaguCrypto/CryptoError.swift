/// The single error type of TsunaguCrypto.
///
/// Associated strings describe *what* failed (a path, an OpenSSL function name, a length rule),
/// never key material, plaintext or file contents, so errors are safe to log.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The GCM tag did not verify: wrong key, wrong associated data, or tampered bytes.
    /// Deliberately a single case so callers (and attackers) cannot tell which.
    case authenticationFailed
    /// The input is too short or carries an unknown version byte.
    case malformedCiphertext
    /// The blob names a data key this process does not hold.
    case unknownKey(id: String)
    /// Key material has the wrong shape, e.g. "master key file must hold 32 bytes of base64".
    case invalidKeyMaterial(String)
    /// A key file could not be read or written; names the path and the problem only.
    case keyFile(String)
    /// An OpenSSL call failed; carries the name of the call only.
    case openSSL(String)

    public var description: String {
        switch self {
        case .authenticationFailed: "authentication failed"
        case .malformedCiphertext: "malformed ciphertext"
        case .unknownKey(let id): "unknown data key \"\(id)\""
        case .invalidKeyMaterial(let message): "invalid key material: \(message)"
        case .keyFile(let message): "key file: \(message)"
        case .openSSL(let function): "OpenSSL call \(function) failed"
        }
    }
}
