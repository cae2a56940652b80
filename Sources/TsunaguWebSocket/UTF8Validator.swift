/// Incremental UTF-8 validation, fed the payload of one message frame by frame.
///
/// RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the
/// byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
/// Connection_." Validating each fragment as it arrives (rather than the assembled message) lets
/// the server fail fast, which Autobahn's 6.4.x cases check.
///
/// The table is RFC 3629 §4 (UTF8-2 … UTF8-4): it rejects overlong forms, surrogates
/// (U+D800–U+DFFF) and code points above U+10FFFF.
struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still owed by the code point in progress.
    private var pending: UInt8 = 0
    /// Inclusive range the next continuation byte must fall in.
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    init() {}

    /// True when the bytes seen so far end on a code point boundary.
    var isAtBoundary: Bool { self.pending == 0 }

    /// Feeds more bytes; returns false as soon as they cannot be part of valid UTF-8.
    mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            if self.pending == 0 {
                // Fast path: skip runs of ASCII eight bytes at a time.
                while index + 8 <= count,
                    bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
                {
                    index += 8
                }
                if index == count { break }
                let byte = bytes[index]
                index += 1
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: self.expect(1, 0x80, 0xBF)
                case 0xE0: self.expect(2, 0xA0, 0xBF)  // no overlong 3-byte forms
                case 0xE1...0xEC, 0xEE...0xEF: self.expect(2, 0x80, 0xBF)
                case 0xED: self.expect(2, 0x80, 0x9F)  // no surrogates
                case 0xF0: self.expect(3, 0x90, 0xBF)  // no overlong 4-byte forms
                case 0xF1...0xF3: self.expect(3, 0x80, 0xBF)
                case 0xF4: self.expect(3, 0x80, 0x8F)  // nothing above U+10FFFF
                default: return false  // 0x80–0xC1 and 0xF5–0xFF never start a code point
                }
            } else {
                let byte = bytes[index]
                index += 1
                guard byte >= self.lower && byte <= self.upper else { return false }
                self.pending -= 1
                self.lower = 0x80
                self.upper = 0xBF
            }
        }
        return true
    }

    private mutating func expect(_ continuationBytes: UInt8, _ lower: UInt8, _ upper: UInt8) {
        self.pending = continuationBytes
        self.lower = lower
        self.upper = upper
    }

    /// Validates a complete byte sequence in one go.
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var validator = UTF8Validator()
        return validator.validate(bytes) && validator.isAtBoundary
    }
}
