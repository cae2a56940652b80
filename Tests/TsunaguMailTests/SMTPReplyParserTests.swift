import NIOCore
import Testing

@testable import TsunaguMail

@Suite("SMTP reply parser and dot-stuffing")
struct SMTPReplyParserTests {
    func parse(_ chunks: [String]) throws -> [SMTPReply] {
        var parser = SMTPReplyParser()
        var replies: [SMTPReply] = []
        for chunk in chunks {
            parser.append(ByteBuffer(string: chunk))
            while let reply = try parser.nextReply() { replies.append(reply) }
        }
        return replies
    }

    @Test func singleAndMultiLineReplies() throws {
        let replies = try self.parse(["220 mx.example ESMTP ready\r\n", "250-mx.example\r\n250-SIZE 35882577\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n"])
        #expect(replies == [
            SMTPReply(code: 220, lines: ["mx.example ESMTP ready"]),
            SMTPReply(code: 250, lines: ["mx.example", "SIZE 35882577", "STARTTLS", "AUTH PLAIN LOGIN"]),
        ])
        #expect(replies[1].ehloKeywords == ["SIZE", "STARTTLS", "AUTH"])
        #expect(replies[1].ehloParameters(of: "AUTH") == ["PLAIN", "LOGIN"])
    }

    @Test func repliesSplitAcrossReadsAndBareCodes() throws {
        let replies = try self.parse(["25", "0-first\r", "\n250", "\r\n354 go\n"])
        #expect(replies == [SMTPReply(code: 250, lines: ["first", ""]), SMTPReply(code: 354, lines: ["go"])])
    }

    @Test func incompleteReplyWaitsAndIsReportedAsBuffered() throws {
        var parser = SMTPReplyParser()
        parser.append(ByteBuffer(string: "250-one\r\n"))
        #expect(try parser.nextReply() == nil)
        #expect(parser.hasBufferedBytes)
        parser.append(ByteBuffer(string: "250 two\r\n"))
        #expect(try parser.nextReply()?.lines == ["one", "two"])
        #expect(!parser.hasBufferedBytes)
    }

    @Test func malformedRepliesAreRejected() {
        #expect(throws: SMTPReplyParser.ParseError.malformedLine) { try self.parse(["hello\r\n"]) }
        #expect(throws: SMTPReplyParser.ParseError.malformedLine) { try self.parse(["250xok\r\n"]) }
        #expect(throws: SMTPReplyParser.ParseError.malformedLine) { try self.parse(["999 nope\r\n"]) }
        #expect(throws: SMTPReplyParser.ParseError.inconsistentCode) { try self.parse(["250-a\r\n251 b\r\n"]) }
        #expect(throws: SMTPReplyParser.ParseError.lineTooLong) {
            try self.parse([String(repeating: "x", count: SMTPReplyParser.maxLineLength + 1)])
        }
        #expect(throws: SMTPReplyParser.ParseError.tooManyLines) {
            try self.parse([String(repeating: "250-x\r\n", count: SMTPReplyParser.maxLinesPerReply + 1)])
        }
    }

    func stuffed(_ text: String) -> String {
        String(buffer: SMTPDotStuffing.payload(for: text))
    }

    @Test func dotStuffingDoublesLeadingDots() {
        #expect(self.stuffed("a\r\n.b\r\n.\r\n..c\r\nd.e\r\n") == "a\r\n..b\r\n..\r\n...c\r\nd.e\r\n.\r\n")
        #expect(self.stuffed(".first line") == "..first line\r\n.\r\n")
    }

    @Test func dotStuffingNormalisesBareLineEndings() {
        // A lone LF or CR must never reach the server; "\n.\n" would otherwise end DATA on lax servers.
        #expect(self.stuffed("a\n.\nb\rc") == "a\r\n..\r\nb\r\nc\r\n.\r\n")
        #expect(self.stuffed("") == ".\r\n")
    }
}
