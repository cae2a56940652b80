import Foundation

/// The MIME encodings the renderer needs: RFC 2047 encoded-words for headers, and RFC 2045
/// quoted-printable and base64 for bodies. Pure functions over bytes, so that every output line
/// is exactly what the tests check.
enum MIMEEncoding {
    /// RFC 2045 §6.7 rule 5: encoded lines are at most 76 characters.
    static let maxEncodedLine = 76

    // MARK: - RFC 2047 encoded-words

    /// A header value as `=?UTF-8?B?…?=` words, separated by `CRLF SP` folds.
    ///
    /// §2: an encoded-word is at most 75 characters, and §5 "each encoded-word MUST represent an
    /// integral number of characters", so the text is cut between Unicode scalars, 45 UTF-8 bytes
    /// at most per word (60 base64 characters + 12 of `=?UTF-8?B?` `?=` = 72). B rather than Q:
    /// Japanese subjects are nearly all non-ASCII, where Q would triple the length.
    static func encodedWords(_ text: String) -> String {
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > 45 {
                words.append(self.encodedWord(chunk))
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append(self.encodedWord(chunk)) }
        return words.joined(separator: "\r\n ")
    }

    private static func encodedWord(_ bytes: [UInt8]) -> String {
        "=?UTF-8?B?\(Data(bytes).base64EncodedString())?="
    }

    /// Whether a header value can be sent as it is: printable ASCII and spaces only (no CR, LF or
    /// other control characters, which would break or inject header lines), and no `=?` that a
    /// reader could mistake for an encoded-word.
    static func isPlainHeaderText(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } && !text.contains("=?")
    }

    /// Folds a plain header line (`Name: value`) at spaces so lines stay within 78 characters
    /// (RFC 5322 §2.1.1); a word longer than that stays whole rather than being cut.
    static func fold(_ line: String) -> String {
        guard line.utf8.count > 78 else { return line }
        var lines: [String] = []
        var current = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            if current.isEmpty {
                current = String(word)
            } else if current.utf8.count + 1 + word.utf8.count > 78 {
                lines.append(current)
                current = " " + word
            } else {
                current += " " + word
            }
        }
        lines.append(current)
        return lines.joined(separator: "\r\n")
    }

    // MARK: - Bodies

    /// Base64 in CRLF-terminated lines of 76 characters (RFC 2045 §6.8).
    static func base64Body(_ bytes: [UInt8]) -> String {
        let encoded = Array(Data(bytes).base64EncodedString().utf8)
        var out = ""
        var start = 0
        while start < encoded.count {
            let end = min(start + maxEncodedLine, encoded.count)
            out += String(decoding: encoded[start..<end], as: UTF8.self) + "\r\n"
            start = end
        }
        return out
    }

    /// Quoted-printable (RFC 2045 §6.7) of text whose hard line breaks are CRLF. Each output line
    /// ends with CRLF; soft breaks (`=` CRLF) keep lines within 76 characters.
    static func quotedPrintable(_ text: String) -> String {
        var out = ""
        let lines = text.components(separatedBy: "\r\n")
        for (index, line) in lines.enumerated() {
            if index == lines.count - 1, line.isEmpty { break }  // the text ended with CRLF
            out += self.quotedPrintableLine(Array(line.utf8))
        }
        return out
    }

    private static func quotedPrintableLine(_ bytes: [UInt8]) -> String {
        var out = ""
        var lineLength = 0
        for (index, byte) in bytes.enumerated() {
            let isLast = index == bytes.count - 1
            // Rule 2: literal printable ASCII except "="; rule 3: a space or tab at the end of a
            // line must be encoded (transports strip trailing white space).
            let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "="))
                || ((byte == 0x20 || byte == 0x09) && !isLast)
            let token = literal ? String(UnicodeScalar(byte)) : String(format: "=%02X", byte)
            // Leave room for the "=" of a soft break (rule 5), unless this is the line's last token.
            let limit = isLast ? maxEncodedLine : maxEncodedLine - 1
            if lineLength + token.utf8.count > limit {
                out += "=\r\n"
                lineLength = 0
            }
            out += token
            lineLength += token.utf8.count
        }
        return out + "\r\n"
    }
}
