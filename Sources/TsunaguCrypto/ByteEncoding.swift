import Foundation

/// Internal text encodings of byte strings: hex for tests, base64 variants for stored formats.
public enum ByteEncoding {
    /// Lowercase hex.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses hex (either case); nil on odd length or a non-hex character.
    public static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// Standard base64 (RFC 4648 section 4) with padding.
    public static func base64(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Standard base64 without "=" padding, as in the PHC string format.
    static func base64NoPadding(_ bytes: [UInt8]) -> String {
        var s = base64(bytes)
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    /// URL-safe base64 (RFC 4648 section 5) without padding.
    static func base64URL(_ bytes: [UInt8]) -> String {
        String(base64NoPadding(bytes).map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }

    /// Strict decoding of standard base64 (with padding). nil on any stray character, including whitespace.
    static func bytes(base64: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: base64) else { return nil }
        return [UInt8](data)
    }

    /// Strict, canonical decoding of unpadded standard base64: rejects "=" and any encoding that
    /// would not re-encode to the same text, so each byte string has exactly one accepted form.
    static func bytes(base64NoPadding text: String) -> [UInt8]? {
        guard !text.contains("="), text.utf8.count % 4 != 1 else { return nil }
        let padded = text + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
        guard let decoded = bytes(base64: padded), base64NoPadding(decoded) == text else { return nil }
        return decoded
    }
}
