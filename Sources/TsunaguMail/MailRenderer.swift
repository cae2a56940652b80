import Foundation

extension TimeZone {
    /// Japan Standard Time (UTC+9, no daylight saving): the deployment zone of the white paper.
    /// Fixed-offset, so rendering does not depend on the tz database being installed.
    public static let japanStandardTime = TimeZone(secondsFromGMT: 9 * 3600)!
}

/// Renders a `MailMessage` as an RFC 5322 message with a single MIME text part.
public enum MailRenderer {
    /// RFC 5322 rendering: `Date` (in `timeZone`, JST by default), `From`, `To`, `Subject`
    /// (RFC 2047 encoded-words of UTF-8 when not plain ASCII), `Message-ID`, `MIME-Version`,
    /// `Content-Type: text/plain; charset=utf-8` and `Content-Transfer-Encoding`, then the body.
    ///
    /// Every line ends with CRLF. The body is `7bit` when it is ASCII with short lines, otherwise
    /// quoted-printable when it is mostly ASCII (an activation link stays readable and copyable)
    /// or base64 when it is mostly not (Japanese prose, where QP would triple the size).
    /// Dot-stuffing is not applied here: it belongs to SMTP, not to the `.eml` files.
    public static func render(_ message: MailMessage, date: Date = Date(), timeZone: TimeZone = .japanStandardTime) -> String {
        let body = self.normalizedLines(message.textBody)
        let bodyBytes = Array(body.utf8)
        let encoding = self.transferEncoding(for: bodyBytes)

        var headers: [String] = [
            "Date: \(self.rfc5322Date(date, timeZone: timeZone))",
            "From: \(message.from)",
            "To: \(message.to)",
        ]
        if MIMEEncoding.isPlainHeaderText(message.subject) {
            headers.append(MIMEEncoding.fold("Subject: \(message.subject)"))
        } else {
            headers.append("Subject: \(MIMEEncoding.encodedWords(message.subject))")
        }
        headers += [
            "Message-ID: <\(self.messageIDLocalPart(message.id))@\(self.messageIDDomain(message.from))>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: \(encoding.rawValue)",
        ]

        let encodedBody: String
        switch encoding {
        case .sevenBit: encodedBody = body
        case .quotedPrintable: encodedBody = MIMEEncoding.quotedPrintable(body)
        case .base64: encodedBody = MIMEEncoding.base64Body(bodyBytes)
        }
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + encodedBody
    }

    enum TransferEncoding: String {
        case sevenBit = "7bit"
        case quotedPrintable = "quoted-printable"
        case base64
    }

    static func transferEncoding(for body: [UInt8]) -> TransferEncoding {
        let nonASCII = body.count { $0 >= 0x80 || ($0 < 0x20 && $0 != 0x0D && $0 != 0x0A && $0 != 0x09) }
        // RFC 5321 §4.5.3.1.6: a text line is at most 998 octets plus CRLF.
        let longestLine = body.split(separator: 0x0A, omittingEmptySubsequences: false).map(\.count).max() ?? 0
        if nonASCII == 0, longestLine <= 998 { return .sevenBit }
        // QP spends 3 characters per encoded byte; past about a sixth of the bytes base64 is shorter.
        return nonASCII * 6 <= body.count ? .quotedPrintable : .base64
    }

    /// The body with every line ending as CRLF and a final CRLF.
    static func normalizedLines(_ text: String) -> String {
        let unified = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        var lines = unified.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0 + "\r\n" }.joined()
    }

    /// RFC 5322 §3.3 `date-time`, e.g. `Tue, 01 Jul 2025 09:00:00 +0900`, computed from the
    /// calendar rather than a DateFormatter so that no locale can change the English names.
    static func rfc5322Date(_ date: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let offset = timeZone.secondsFromGMT(for: date) / 60
        let sign = offset < 0 ? "-" : "+"
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[c.weekday! - 1]), \(two(c.day!)) \(months[c.month! - 1]) \(c.year!) "
            + "\(two(c.hour!)):\(two(c.minute!)):\(two(c.second!)) \(sign)\(two(abs(offset) / 60))\(two(abs(offset) % 60))"
    }

    /// The id as a `Message-ID` local part (`dot-atom-text`): characters outside the id alphabet
    /// become `_` so a malformed id can never break the header.
    static func messageIDLocalPart(_ id: String) -> String {
        let cleaned = String(id.unicodeScalars.map { scalar -> Character in
            let allowed = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar))
            return allowed ? Character(scalar) : "_"
        })
        let trimmed = cleaned.trimmingCharacters(in: CharacterSet(charactersIn: "."))
        return trimmed.isEmpty ? "message" : trimmed.replacingOccurrences(of: "..", with: "._")
    }

    /// RFC 5322 §3.6.4 recommends the sender's domain on the right of a Message-ID.
    static func messageIDDomain(_ from: String) -> String {
        let domain = MailAddress.domain(of: from)
        return domain.isEmpty || domain == "(none)" || domain.contains(where: { "<>\"\\[]()".contains($0) }) ? "tsunagu.invalid" : domain
    }
}
