import Foundation
import Testing

@testable import TsunaguMail

@Suite("RFC 5322 / MIME rendering")
struct MailRendererTests {
    // 2025-07-01T00:00:00Z = 09:00 JST.
    let date = Date(timeIntervalSince1970: 1_751_328_000)

    func message(subject: String = "Welcome", body: String = "Hello\n") -> MailMessage {
        MailMessage(id: "act-42", from: "noreply@tsunagu.example", to: "nurse@clinic.example", subject: subject, textBody: body)
    }

    func split(_ rendered: String) -> (headers: [String], body: String) {
        let parts = rendered.components(separatedBy: "\r\n\r\n")
        return (parts[0].components(separatedBy: "\r\n"), parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test func headersInOrderWithJSTDate() {
        let rendered = MailRenderer.render(self.message(), date: self.date, timeZone: .japanStandardTime)
        let (headers, body) = self.split(rendered)
        #expect(headers == [
            "Date: Tue, 01 Jul 2025 09:00:00 +0900",
            "From: noreply@tsunagu.example",
            "To: nurse@clinic.example",
            "Subject: Welcome",
            "Message-ID: <act-42@tsunagu.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 7bit",
        ])
        #expect(body == "Hello\r\n")
    }

    @Test func dateInAnotherZone() {
        #expect(MailRenderer.rfc5322Date(self.date, timeZone: TimeZone(secondsFromGMT: -(3 * 3600 + 30 * 60))!)
            == "Mon, 30 Jun 2025 20:30:00 -0330")
        #expect(MailRenderer.rfc5322Date(self.date, timeZone: TimeZone(secondsFromGMT: 0)!) == "Tue, 01 Jul 2025 00:00:00 +0000")
    }

    @Test func everyLineEndsWithCRLF() {
        let rendered = MailRenderer.render(self.message(body: "one\ntwo\r\nthree\rfour"), date: self.date, timeZone: .japanStandardTime)
        #expect(rendered.hasSuffix("one\r\ntwo\r\nthree\r\nfour\r\n"))
        let bytes = Array(rendered.utf8)
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            #expect(index > 0 && bytes[index - 1] == 0x0D)
        }
        for (index, byte) in bytes.enumerated() where byte == 0x0D {
            #expect(index + 1 < bytes.count && bytes[index + 1] == 0x0A)
        }
    }

    @Test func japaneseSubjectBecomesEncodedWords() throws {
        let subject = "【つなぐ】アカウント登録のご案内：リンクは24時間有効です。お早めにご登録ください"
        let rendered = MailRenderer.render(self.message(subject: subject), date: self.date, timeZone: .japanStandardTime)
        let headerBlock = rendered.components(separatedBy: "\r\n\r\n")[0]
        let subjectLines = headerBlock.components(separatedBy: "\r\n").drop { !$0.hasPrefix("Subject:") }
            .prefix { $0.hasPrefix("Subject:") || $0.hasPrefix(" ") }
        #expect(subjectLines.count > 1, "a long subject is folded into several encoded-words")
        var decoded = Data()
        for line in subjectLines {
            let word = line.hasPrefix("Subject: ") ? String(line.dropFirst(9)) : String(line.dropFirst())
            #expect(word.utf8.count <= 75, "RFC 2047 §2: an encoded-word is at most 75 characters")
            #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
            let payload = try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2))))
            // Each word holds whole characters (§5), so each decodes on its own.
            #expect(String(data: payload, encoding: .utf8) != nil)
            decoded.append(payload)
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject)
    }

    @Test func subjectWithLineBreakCannotInjectHeaders() {
        let rendered = MailRenderer.render(self.message(subject: "Hi\r\nBcc: victim@example.com"), date: self.date, timeZone: .japanStandardTime)
        #expect(!rendered.contains("\r\nBcc:"))
        #expect(rendered.contains("Subject: =?UTF-8?B?"))
    }

    @Test func longASCIISubjectIsFolded() {
        let subject = Array(repeating: "word", count: 30).joined(separator: " ")
        let rendered = MailRenderer.render(self.message(subject: subject), date: self.date, timeZone: .japanStandardTime)
        let lines = rendered.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 78 })
        let unfolded = rendered.components(separatedBy: "\r\n\r\n")[0].replacingOccurrences(of: "\r\n ", with: " ")
        #expect(unfolded.contains("Subject: \(subject)\r\n"))
    }

    @Test func mostlyASCIIBodyIsQuotedPrintable() {
        let body = "Please open the link below to activate your account (有効期限24時間):\n"
            + "https://tsunagu.example/activate?token=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6\n"
            + "=equals and trailing space \n"
        let rendered = MailRenderer.render(self.message(body: body), date: self.date, timeZone: .japanStandardTime)
        let (headers, encoded) = self.split(rendered)
        #expect(headers.contains("Content-Transfer-Encoding: quoted-printable"))
        let lines = encoded.components(separatedBy: "\r\n").dropLast()
        #expect(lines.allSatisfy { $0.utf8.count <= 76 })
        #expect(encoded.contains("=E6=9C=89"))  // 有
        #expect(encoded.contains("=3Dequals and trailing space=20\r\n"))
        #expect(self.decodeQuotedPrintable(encoded) == MailRenderer.normalizedLines(body))
    }

    @Test func japaneseBodyIsBase64() throws {
        let body = "いつもお世話になっております。\n登録を完了するには次のリンクを開いてください。\n"
        let rendered = MailRenderer.render(self.message(body: body), date: self.date, timeZone: .japanStandardTime)
        let (headers, encoded) = self.split(rendered)
        #expect(headers.contains("Content-Transfer-Encoding: base64"))
        let lines = encoded.components(separatedBy: "\r\n").dropLast()
        #expect(lines.dropLast().allSatisfy { $0.utf8.count == 76 })
        let data = try #require(Data(base64Encoded: lines.joined()))
        #expect(String(decoding: data, as: UTF8.self) == MailRenderer.normalizedLines(body))
    }

    @Test func messageIDStaysWellFormedForOddIDs() {
        #expect(MailRenderer.messageIDLocalPart("a b<c>@d") == "a_b_c__d")
        #expect(MailRenderer.messageIDLocalPart("..x..y.") == "x._y")
        #expect(MailRenderer.messageIDDomain("broken") == "tsunagu.invalid")
    }

    /// An independent decoder for the test: "=XX" escapes and "=" CRLF soft breaks (RFC 2045 §6.7).
    func decodeQuotedPrintable(_ text: String) -> String {
        var bytes: [UInt8] = []
        let input = Array(text.utf8)
        var index = 0
        while index < input.count {
            if input[index] == UInt8(ascii: "=") {
                if input[index + 1] == 0x0D {
                    index += 3
                    continue
                }
                bytes.append(UInt8(String(decoding: input[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)!)
                index += 3
            } else {
                bytes.append(input[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
