import Foundation
import NIOPosix
import TsunaguClient
import TsunaguMail
import TsunaguTestSupport

/// A real SMTP server for node tests: aiosmtpd on a free loopback port, delivering into a Maildir
/// that the test reads back (`mails`), and the transport a node sends through.
final class SMTPMailbox {
    let directory: String
    let transport: SMTPTransport
    private let server: Process

    /// Starts the server; fails with the fix when aiosmtpd is not importable (`.ci/run` and the
    /// README install it into the venv from Tests/requirements.txt).
    static func start() async throws -> SMTPMailbox {
        let check = try await Tool.run("/usr/bin/env", ["python3", "-c", "import aiosmtpd"])
        guard check.status == 0 else {
            throw TestFailure("aiosmtpd is not importable by python3: pip install aiosmtpd (or TSUNAGU_SKIP_SMTP=1)")
        }
        return try SMTPMailbox(port: FreePort.loopback())
    }

    private init(port: Int) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-maildir-\(UUID().uuidString)").path
        server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Mailbox", directory]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        transport = SMTPTransport(configuration: SMTPConfiguration(host: "127.0.0.1", port: port, heloName: "tsunagu.test"),
                                  group: MultiThreadedEventLoopGroup.singleton)
    }

    func stop() {
        kill(server.processIdentifier, SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// How many mails arrived so far.
    var count: Int { ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/new")) ?? []).count }

    /// The first `count` mails, oldest first, their bodies decoded; waits up to 30 s for them.
    func mails(count: Int) async throws -> [String] {
        let new = directory + "/new"
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: new)) ?? []
            if names.count >= count {
                let texts = names.compactMap { name -> (Date, String)? in
                    let path = new + "/" + name
                    guard let data = FileManager.default.contents(atPath: path),
                        let modified = try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
                    else { return nil }
                    return (modified, String(decoding: data, as: UTF8.self))
                }
                return texts.sorted { $0.0 < $1.0 }.map { Self.decoded($0.1) }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("fewer than \(count) mails reached the SMTP server")
    }

    /// The token of the link (`…#token=…`) a mail carries.
    static func token(in mail: String) throws -> String {
        guard let range = mail.range(of: "#token=") else { throw TestFailure("no link in the mail") }
        return String(mail[range.upperBound...].prefix { !$0.isWhitespace })
    }

    /// Headers as they are, the body decoded: base64 (mostly Japanese) or quoted-printable.
    private static func decoded(_ mail: String) -> String {
        let text = mail.replacingOccurrences(of: "\r\n", with: "\n")
        guard let split = text.range(of: "\n\n") else { return text }
        let headers = String(text[..<split.lowerBound])
        let body = String(text[split.upperBound...])
        if headers.lowercased().contains("content-transfer-encoding: base64"),
            let data = Data(base64Encoded: body.filter { !$0.isWhitespace }) {
            return headers + "\n\n" + String(decoding: data, as: UTF8.self)
        }
        // Quoted-printable: soft line breaks and `=3D`, enough to read the link back.
        return headers + "\n\n" + body.replacingOccurrences(of: "=\n", with: "").replacingOccurrences(of: "=3D", with: "=")
    }
}
