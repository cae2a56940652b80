/// Checks the addresses that go into SMTP commands and headers, and gives the part that is safe to log.
///
/// An address is written verbatim into `MAIL FROM:<…>`, `RCPT TO:<…>` and the `From`/`To` headers,
/// so a CR or LF would let a caller inject SMTP commands or headers, and a `<` or `>` would end the
/// path early (RFC 5321 §4.1.2 `Path = "<" Mailbox ">"`). Rather than implement every corner of
/// the RFC 5321 mailbox grammar (quoted local parts, address literals), Tsunagu accepts the plain
/// `local@domain` form that real users have, in ASCII (no SMTPUTF8), and refuses the rest clearly.
enum MailAddress {
    /// RFC 5321 §4.5.3.1: local part ≤ 64 octets, domain ≤ 255, path ≤ 256 including the brackets.
    static let maxLocalPart = 64
    static let maxLength = 254

    /// Returns nothing for a usable address, or throws `SMTPError.invalidAddress` naming the field
    /// and the reason, never the address itself (it may end up in logs).
    static func validate(_ address: String, field: String) throws(SMTPError) {
        let bytes = Array(address.utf8)
        guard !bytes.isEmpty else { throw .invalidAddress("\(field) address is empty") }
        guard bytes.count <= maxLength else { throw .invalidAddress("\(field) address is longer than \(maxLength) octets") }
        for byte in bytes {
            if byte == 13 || byte == 10 { throw .invalidAddress("\(field) address contains CR or LF") }
            if byte < 0x21 || byte == 0x7F { throw .invalidAddress("\(field) address contains a space or control character") }
            if byte >= 0x80 { throw .invalidAddress("\(field) address is not ASCII (SMTPUTF8 is not supported)") }
            if byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") {
                throw .invalidAddress("\(field) address contains '<' or '>'")
            }
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: ",")
                || byte == UInt8(ascii: ";") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "(")
                || byte == UInt8(ascii: ")") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]") {
                throw .invalidAddress("\(field) address contains a character that needs quoting")
            }
        }
        let ats = bytes.indices.filter { bytes[$0] == UInt8(ascii: "@") }
        guard ats.count == 1, let at = ats.first else { throw .invalidAddress("\(field) address must contain exactly one '@'") }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        guard !local.isEmpty, local.count <= maxLocalPart else {
            throw .invalidAddress("\(field) address has an empty or over-long local part")
        }
        guard !domain.isEmpty, domain.first != UInt8(ascii: "."), domain.last != UInt8(ascii: "."),
              !domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).contains(where: \.isEmpty)
        else { throw .invalidAddress("\(field) address has a malformed domain") }
    }

    /// The domain of an address, the only part of it that logs carry (recipients are patients'
    /// families and care staff; their full addresses are personal data).
    static func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "(none)" }
        let domain = address[address.index(after: at)...]
        // Logs must stay one line and bounded even for an address that failed validation.
        let safe = domain.unicodeScalars.filter { $0.isASCII && $0.value > 0x20 && $0.value != 0x7F }
        return String(String.UnicodeScalarView(safe.prefix(255)))
    }
}
