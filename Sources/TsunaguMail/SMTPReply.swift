import NIOCore

/// One complete SMTP reply: a three-digit code and its text lines (RFC 5321 §4.2).
struct SMTPReply: Sendable, Equatable {
    var code: Int
    /// The text after the code on each line, without the separator (`-` or space) and CRLF.
    var lines: [String]

    /// EHLO keywords (RFC 5321 §4.1.1.1: the first line is the greeting, every later line is
    /// `keyword [params]`), upper-cased for case-insensitive comparison.
    var ehloKeywords: Set<String> {
        Set(self.lines.dropFirst().compactMap { line in
            line.split(separator: " ", maxSplits: 1).first.map { $0.uppercased() }
        })
    }

    /// The parameters of one EHLO keyword, e.g. `["PLAIN", "LOGIN"]` for `AUTH PLAIN LOGIN`.
    func ehloParameters(of keyword: String) -> [String]? {
        for line in self.lines.dropFirst() {
            let words = line.split(separator: " ").map { $0.uppercased() }
            if words.first == keyword { return Array(words.dropFirst()) }
        }
        return nil
    }
}

/// Splits the byte stream from the server into replies: a pure parser, tested without sockets.
///
/// RFC 5321 §4.2.1: a multiline reply is `ddd-text` lines ending with one `ddd text` (or bare
/// `ddd`) line, all with the same code. A server that breaks that grammar, or sends unbounded
/// lines, is cut off rather than buffered without limit.
struct SMTPReplyParser {
    enum ParseError: Error, Equatable {
        case lineTooLong
        case tooManyLines
        case malformedLine
        case inconsistentCode
    }

    /// §4.5.3.1.5: a reply line is at most 512 octets; a little slack tolerates sloppy servers.
    static let maxLineLength = 2048
    /// Long EHLO lists are ~20 lines; 100 bounds a hostile server's multiline reply.
    static let maxLinesPerReply = 100

    private var buffer = ByteBuffer()
    private var pendingCode: Int?
    private var pendingLines: [String] = []

    /// Whether bytes are buffered that do not yet form a reply. After the `220` to STARTTLS this
    /// must be false: plaintext that arrived behind it would otherwise be read as if it came over
    /// TLS (the STARTTLS response-injection attack, CVE-2011-0411 family).
    var hasBufferedBytes: Bool { self.buffer.readableBytes > 0 || self.pendingCode != nil }

    mutating func append(_ bytes: ByteBuffer) {
        var bytes = bytes
        self.buffer.writeBuffer(&bytes)
    }

    /// The next complete reply, or nil when more bytes are needed.
    mutating func nextReply() throws(ParseError) -> SMTPReply? {
        while let line = try self.nextLine() {
            let utf8 = Array(line.utf8)
            guard utf8.count >= 3, utf8[0..<3].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  let code = Int(String(decoding: utf8[0..<3], as: UTF8.self)), (200...599).contains(code)
            else { throw .malformedLine }
            let separator: UInt8? = utf8.count > 3 ? utf8[3] : nil
            guard separator == nil || separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
                throw .malformedLine
            }
            if let pending = self.pendingCode, pending != code { throw .inconsistentCode }
            let text = utf8.count > 4 ? String(decoding: utf8[4...], as: UTF8.self) : ""
            self.pendingLines.append(text)
            guard self.pendingLines.count <= Self.maxLinesPerReply else { throw .tooManyLines }
            if separator == UInt8(ascii: "-") {
                self.pendingCode = code
                continue
            }
            let reply = SMTPReply(code: code, lines: self.pendingLines)
            self.pendingCode = nil
            self.pendingLines = []
            return reply
        }
        return nil
    }

    /// One line without its terminator; CRLF is the standard, a bare LF is accepted from lax servers.
    private mutating func nextLine() throws(ParseError) -> String? {
        let view = self.buffer.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > Self.maxLineLength { throw .lineTooLong }
            return nil
        }
        let length = lf - view.startIndex
        guard length <= Self.maxLineLength else { throw .lineTooLong }
        var line = self.buffer.readString(length: length)!
        self.buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        self.buffer.discardReadBytes()
        return line
    }
}
