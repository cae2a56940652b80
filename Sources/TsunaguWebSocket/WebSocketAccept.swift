internal import COpenSSL

/// The opening handshake's key proof (RFC 6455 §4.2.2): "concatenate this with the Globally
/// Unique Identifier [...] take the SHA-1 hash of this concatenated value to obtain a 20-byte
/// value and base64-encode (see Section 4 of [RFC4648]) this 20-byte hash."
///
/// SHA-1 and base64 come straight from the system's libcrypto: the WebSocket layer needs nothing
/// else of cryptography. SHA-1 here proves only that the server read the handshake; no secret is
/// involved.
enum WebSocketAccept {
    /// §1.3: the GUID appended to the client's key.
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The `Sec-WebSocket-Accept` value that answers `Sec-WebSocket-Key: key`.
    static func value(forKey key: some StringProtocol) -> String {
        let input = Array((String(key) + Self.guid).utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let ok = input.withUnsafeBytes { bytes in
            EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha1(), nil)
        }
        precondition(ok == 1 && length == 20, "EVP_Digest(SHA-1) failed")
        return Self.base64(digest)
    }

    /// A fresh `Sec-WebSocket-Key`. §4.1: "a randomly selected 16-byte value that has been
    /// base64-encoded"; "The nonce MUST be selected randomly for each connection."
    static func randomKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let words: (UInt64, UInt64) = (generator.next(), generator.next())
        return Self.base64(withUnsafeBytes(of: words) { Array($0) })
    }

    /// Standard base64 with padding (RFC 4648 §4).
    static func base64(_ bytes: [UInt8]) -> String {
        // EVP_EncodeBlock writes 4 characters per 3 bytes (the last group padded) and a NUL.
        var output = [UInt8](repeating: 0, count: (bytes.count + 2) / 3 * 4 + 1)
        let written = bytes.withUnsafeBufferPointer { input in
            EVP_EncodeBlock(&output, input.baseAddress, Int32(input.count))
        }
        return String(decoding: output[..<Int(written)], as: UTF8.self)
    }
}
