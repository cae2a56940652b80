import NIOCore

/// Turns a rendered message into the bytes that follow `354` in the DATA phase.
///
/// RFC 5321 §4.5.2: the message ends at a line holding a single `.`, so "before sending a line of
/// mail text, the SMTP client checks the first character of the line. If it is a period, one
/// additional period is inserted at the beginning of the line." The server removes it again.
/// §2.3.8 also forbids bare CR and bare LF in the text, so every line ending becomes CRLF here,
/// whatever the renderer (or a caller's body) produced; without that, a lone `\n.\n` could end
/// the DATA phase early on lenient servers and smuggle a second message (SMTP smuggling, 2023).
enum SMTPDotStuffing {
    /// The DATA payload: CRLF-normalised, dot-stuffed, ending with `CRLF . CRLF`.
    static func payload(for message: String) -> ByteBuffer {
        let bytes = Array(message.utf8)
        var out = ByteBuffer()
        out.reserveCapacity(bytes.count + bytes.count / 50 + 8)
        var atLineStart = true
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") {
                out.writeStaticString("\r\n")
                // CRLF counts as one line break; a CR or LF alone becomes one too.
                if byte == UInt8(ascii: "\r"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") {
                    index += 1
                }
                atLineStart = true
            } else {
                if atLineStart, byte == UInt8(ascii: ".") { out.writeInteger(UInt8(ascii: ".")) }
                out.writeInteger(byte)
                atLineStart = false
            }
            index += 1
        }
        if !atLineStart { out.writeStaticString("\r\n") }
        out.writeStaticString(".\r\n")
        return out
    }
}
