import Foundation

/// The 32-byte master key, kept in a file as base64 on one line (mode 0600).
///
/// It is never stored in the database: a database dump alone then reveals only wrapped data
/// keys (see `KeyWrapper`). It is used directly only as HKDF input keying material, so each use
/// gets its own subkey (NIST SP 800-57 Part 1 section 5.2: one key, one purpose).
public struct MasterKey: Sendable {
    /// The master key material.
    public let key: SymmetricKey

    /// Wraps key material obtained elsewhere (e.g. from a secrets manager or a test).
    public init(key: SymmetricKey) {
        self.key = key
    }

    /// The longest file accepted: 44 base64 characters plus line ending, with generous slack.
    private static let maximumFileSize = 1024
    private static let formatRule = "master key file must hold 32 bytes of base64"

    /// Reads a key file written by `create(at:)` (base64 of 32 bytes, optional trailing newline).
    /// - Throws: `keyFile("… does not exist")`, `keyFile("… cannot be read")`, or
    ///   `invalidKeyMaterial(…)` for bad base64 or a wrong length. Errors never quote the contents.
    public static func load(from path: String) throws -> MasterKey {
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: path) else {
            throw CryptoError.keyFile("master key file \(path) does not exist")
        }
        guard let data = fileManager.contents(atPath: path) else {
            throw CryptoError.keyFile("master key file \(path) cannot be read")
        }
        guard data.count <= maximumFileSize, let text = String(data: data, encoding: .utf8) else {
            throw CryptoError.invalidKeyMaterial(formatRule)
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = ByteEncoding.bytes(base64: trimmed), bytes.count == SymmetricKey.byteCount else {
            throw CryptoError.invalidKeyMaterial(formatRule)
        }
        return MasterKey(key: SymmetricKey(unchecked: bytes))
    }

    /// Creates a new random key at `path` with mode 0600 and returns it.
    ///
    /// Uses O_CREAT|O_EXCL so an existing key is never overwritten (losing the master key loses
    /// every encrypted field). Missing parent directories are created with mode 0700.
    /// - Throws: `keyFile(…)` naming the path and the problem.
    public static func create(at path: String) throws -> MasterKey {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty { try makeDirectories(parent) }

        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            if code == EEXIST {
                throw CryptoError.keyFile("master key file \(path) already exists; refusing to overwrite it")
            }
            throw CryptoError.keyFile("cannot create master key file \(path): \(errorText(code))")
        }
        let key = SymmetricKey.random()
        let line = Array((ByteEncoding.base64(key.bytes) + "\n").utf8)
        var problem: String?
        // The umask can only remove bits, but set the mode explicitly so it is exactly 0600.
        if fchmod(fd, 0o600) != 0 {
            problem = "cannot set mode 0600 on \(path): \(errorText(errno))"
        } else if let failure = writeAll(fd, line) {
            problem = "cannot write master key file \(path): \(failure)"
        } else if fsync(fd) != 0 {
            problem = "cannot sync master key file \(path): \(errorText(errno))"
        }
        if close(fd) != 0 && problem == nil {
            problem = "cannot close master key file \(path): \(errorText(errno))"
        }
        if let problem {
            unlink(path)  // never leave a half-written key behind to be loaded later
            throw CryptoError.keyFile(problem)
        }
        return MasterKey(key: key)
    }

    /// A subkey for one purpose (e.g. "blind-index", "peer-link"), derived by RFC 5869
    /// HKDF-SHA-256 with info "tsunagu/derived-key/v1/" + purpose. Deterministic; not stored anywhere.
    ///
    /// No salt: RFC 5869 section 3.1 makes it optional, and the master key is already uniformly random.
    public func derivedKey(purpose: String) -> SymmetricKey {
        subkey(info: Self.derivedKeyInfoPrefix + purpose)
    }

    static let derivedKeyInfoPrefix = "tsunagu/derived-key/v1/"
    /// Outside the `derivedKeyInfoPrefix` namespace, so no purpose label can collide with it.
    static let keyWrappingInfo = "tsunagu/key-wrapping/v1"

    func subkey(info: String) -> SymmetricKey {
        HKDF.sha256(inputKey: key, info: Array(info.utf8))
    }

    // MARK: - File helpers

    private static func makeDirectories(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CryptoError.keyFile("\(directory) exists and is not a directory") }
            return
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != directory { try makeDirectories(parent) }
        // 0700: the directory holding the master key should not even be listable by others.
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw CryptoError.keyFile("cannot create directory \(directory): \(errorText(errno))")
        }
    }

    /// Writes every byte, retrying on EINTR; returns the error text on failure.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> String? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n < 0 ? errorText(errno) : "short write" }
            offset += n
        }
        return nil
    }

    private static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
