import Foundation
import Testing

@testable import TsunaguMail

@Suite("Directory transport (.eml files)")
struct DirectoryTransportTests {
    func makeDirectory() -> String {
        NSTemporaryDirectory() + "tsunagu-mail-\(UUID().uuidString)/outbox"
    }

    func message(_ id: String) -> MailMessage {
        MailMessage(id: id, from: "noreply@tsunagu.example", to: "nurse@clinic.example",
                    subject: "ご登録のご案内", textBody: "リンク: https://tsunagu.example/a?t=1\n")
    }

    @Test func writesModeSixHundredFileAndNothingElse() async throws {
        let directory = self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        try await DirectoryTransport(directory: directory).deliver(self.message("act-1"))

        let entries = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(entries == ["act-1.eml"], "no temporary file is left behind")
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/act-1.eml")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let directoryAttributes = try FileManager.default.attributesOfItem(atPath: directory)
        #expect((directoryAttributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)

        let contents = try String(contentsOfFile: directory + "/act-1.eml", encoding: .utf8)
        #expect(contents.hasPrefix("Date: "))
        #expect(contents.contains("\r\nMessage-ID: <act-1@tsunagu.example>\r\n"))
        #expect(contents.contains("Subject: =?UTF-8?B?"))
    }

    @Test func retryReplacesTheFileAtomically() async throws {
        let directory = self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let transport = DirectoryTransport(directory: directory)
        try await transport.deliver(self.message("act-2"))
        let inode = try FileManager.default.attributesOfItem(atPath: directory + "/act-2.eml")[.systemFileNumber] as? NSNumber
        var second = self.message("act-2")
        second.textBody = "second version\n"
        try await transport.deliver(second)
        // rename(2) puts a new file in place; a reader holding the old one never sees it change.
        let newInode = try FileManager.default.attributesOfItem(atPath: directory + "/act-2.eml")[.systemFileNumber] as? NSNumber
        #expect(inode != newInode)
        #expect(try String(contentsOfFile: directory + "/act-2.eml", encoding: .utf8).hasSuffix("\r\n\r\nsecond version\r\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["act-2.eml"])
    }

    @Test(arguments: ["../escape", "a/b", ".hidden", "", String(repeating: "x", count: 129)])
    func unsafeIDsAreRefused(id: String) async {
        let directory = self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        await #expect(throws: SMTPError.invalidMessage("message id is not usable as a file name")) {
            try await DirectoryTransport(directory: directory).deliver(self.message(id))
        }
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func unwritableDirectoryIsATransientError() async throws {
        let parent = NSTemporaryDirectory() + "tsunagu-mail-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: parent) }
        // A regular file where the directory should be.
        _ = FileManager.default.createFile(atPath: parent, contents: Data())
        do {
            try await DirectoryTransport(directory: parent).deliver(self.message("act-3"))
            Issue.record("delivery into a file succeeded")
        } catch let error as SMTPError {
            #expect(error == .io("outbox path is not a directory"))
            #expect(!error.isPermanent)
        }
    }
}
