import Foundation
import Testing

/// A real SMTP server for live tests: aiosmtpd (`pip install aiosmtpd`) run by python3, storing
/// what it receives in a Maildir. Started per test on 127.0.0.1, port 0 unless a test needs a
/// port chosen in advance.
///
/// aiosmtpd missing is a failure, not a silent pass (CI must `pip install aiosmtpd`); set
/// TSUNAGU_SKIP_SMTP=1 to skip the live tests deliberately.
final class AiosmtpdServer {
    static let skipRequested = ProcessInfo.processInfo.environment["TSUNAGU_SKIP_SMTP"] == "1"

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// Options of the server script below.
    struct Options {
        var port = 0
        /// PEM certificate and key: the server then offers STARTTLS.
        var tls: (certificate: String, key: String)?
        /// Refuse MAIL before STARTTLS (aiosmtpd's `require_starttls`).
        var requireTLS = false
        /// TLS from the first byte with `tls`'s certificate (smtps://), no STARTTLS.
        var implicitTLS = false
        /// `user:password` accepted by AUTH PLAIN (only offered over TLS).
        var auth: String?
    }

    let directory: String
    let maildir: String
    let port: Int
    private let process: Process
    private let lifeline = Pipe()

    /// Starts the server and waits until it listens.
    init(_ options: Options = Options()) async throws {
        try Self.checkAiosmtpd()
        self.directory = NSTemporaryDirectory() + "tsunagu-smtp-\(UUID().uuidString)"
        self.maildir = self.directory + "/Maildir"
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        let scriptPath = self.directory + "/server.py"
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let portFile = self.directory + "/port"

        var arguments = [scriptPath, "--maildir", self.maildir, "--port-file", portFile, "--port", "\(options.port)"]
        if let tls = options.tls { arguments += ["--tls-cert", tls.certificate, "--tls-key", tls.key] }
        if options.requireTLS { arguments.append("--require-tls") }
        if options.implicitTLS { arguments.append("--implicit-tls") }
        if let auth = options.auth { arguments += ["--auth", auth] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.standardInput = self.lifeline
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        _ = FileManager.default.createFile(atPath: self.directory + "/server.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: self.directory + "/server.log")
        try process.run()
        self.process = process

        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                self.port = port
                return
            }
            if !process.isRunning || ContinuousClock.now > deadline {
                let log = (try? String(contentsOfFile: self.directory + "/server.log", encoding: .utf8)) ?? ""
                kill(process.processIdentifier, SIGKILL)
                throw Unavailable(description: "aiosmtpd server did not start: \(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops the server. SIGKILL, because the test runner's children may inherit a blocked
    /// SIGTERM; closing the lifeline pipe alone would also end it.
    func stop() {
        try? self.lifeline.fileHandleForWriting.close()
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// The raw files the server stored.
    func storedFiles() throws -> [String] {
        let newDirectory = self.maildir + "/new"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: newDirectory)) ?? []
        return try names.sorted().map { try String(contentsOfFile: newDirectory + "/" + $0, encoding: .utf8) }
    }

    /// The stored messages as Python's `email` package decodes them: an independent check of the
    /// encoded-words and transfer encodings. Maildir files use LF line ends, so "body" does too.
    func decodedMessages() throws -> [[String: String]] {
        let reader = #"""
        import email.header, json, mailbox, sys
        out = []
        for msg in mailbox.Maildir(sys.argv[1], factory=None, create=False):
            item = {k: str(email.header.make_header(email.header.decode_header(v))) for k, v in msg.items()}
            body = msg.get_payload(decode=True).decode(msg.get_content_charset() or "ascii")
            item["body"] = body.replace("\r\n", "\n")
            out.append(item)
        print(json.dumps(out))
        """#
        let output = try Self.runPython(["-c", reader, self.maildir])
        return try JSONDecoder().decode([[String: String]].self, from: Data(output.utf8))
    }

    static func checkAiosmtpd() throws {
        do {
            _ = try self.runPython(["-c", "import aiosmtpd"])
        } catch {
            let reason = "\(error)".split(separator: "\n").last.map(String.init) ?? "\(error)"
            throw Unavailable(description: "aiosmtpd is not importable by python3: pip install aiosmtpd (or set TSUNAGU_SKIP_SMTP=1 to skip the live SMTP tests); python3 said: \(reason)")
        }
    }

    /// A self-signed certificate for 127.0.0.1, made with the openssl command line; returns
    /// (certificate, key) paths. The certificate is also the trust root the client is given.
    static func makeCertificate(in directory: String) throws -> (certificate: String, key: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        try Self.run("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                                      "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1",
                                      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        return (certificate, key)
    }

    static func runPython(_ arguments: [String]) throws -> String {
        try self.run("/usr/bin/env", ["python3"] + arguments)
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Unavailable(description: "\(arguments.prefix(2).joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: errorData, as: UTF8.self).suffix(400))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
