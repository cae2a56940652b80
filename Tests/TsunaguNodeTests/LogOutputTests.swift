import Foundation
import NIOPosix
import Testing
import TsunaguClient

/// docs/operations.md, "Logs": a node's log, JSON when its output is not a terminal, is one
/// parseable object per line with a millisecond timestamp in the deployment's zone, request and
/// connection ids, and no personal data or tokens — after a short live run of logins (one
/// failing), a timeline and a post.
@Suite(.processHeavy) struct LogOutputTests {
    static let password = "a long enough password"
    static let email = "kato.yumiko@sakura.test"
    static let name = "Kato Yumiko"
    static let title = "Patient Yamamoto Taro"
    static let body = "BP 150/95 after lunch; call family"

    @Test(.timeLimit(.minutes(5)))
    func jsonLogLinesParseAndCarryNoPersonalDataOrTokens() async throws {
        let scratch = try CommandRun.scratchDirectory("logs")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let common = ["--store", scratch + "/s.sqlite", "--master-key-file", scratch + "/k"]
        let boot = try await CommandRun.run(["admin", "bootstrap", "--org", "Sakura", "--email", Self.email, "--password-stdin"] + common,
                                            in: scratch, stdin: Self.password)
        try #require(boot.status == 0, "\(boot.stderr)")
        let added = try await CommandRun.run(["admin", "add-user", "--email", "nurse@sakura.test", "--name", Self.name,
                                              "--password-stdin"] + common, in: scratch, stdin: Self.password)
        try #require(added.status == 0, "\(added.stderr)")

        // No --log-format: the node's standard output is a pipe, so JSON is the default.
        let logFile = scratch + "/node.log"
        let (process, port) = try await Self.startNode(["serve", "--listen", "127.0.0.1:0", "--node-id", "n_log",
                                                        "--time-zone", "Asia/Tokyo", "--log-level", "debug"] + common,
                                                       stderr: logFile)
        defer { terminateInBackground(process) }
        let http = TsunaguHTTPClient(host: "127.0.0.1", port: port, group: MultiThreadedEventLoopGroup.singleton)
        let login = try await http.send("POST", "/v1/sessions", json: ["email": .string(Self.email), "password": .string(Self.password)])
        let token = try #require(login.json?["token"]?.stringValue)
        let bad = try await http.send("POST", "/v1/sessions", json: ["email": .string(Self.email), "password": "wrong password"])
        #expect(bad.status == 401)
        let unknown = try await http.send("POST", "/v1/sessions", json: ["email": "ghost@sakura.test", "password": "wrong password"])
        #expect(unknown.status == 401)
        let created = try await http.send("POST", "/v1/timelines", json: ["title": .string(Self.title), "kind": "patient"], token: token)
        let timeline = try #require(created.json?["id"]?.stringValue)
        let connection = try await TsunaguConnection.connect(host: "127.0.0.1", port: port, group: MultiThreadedEventLoopGroup.singleton)
        _ = try await connection.request(["type": "auth", "token": .string(token)])
        let ack = try await connection.request(["type": "post", "timeline": .string(timeline), "body": .string(Self.body),
                                                "client_msg_id": .string(UUID().uuidString)])
        #expect(ack["seq"]?.intValue != nil)
        // A request that fails on the server side, so a "request failed" line is written.
        _ = try await connection.request(["type": "post", "timeline": "tl_doesnotexist", "body": .string(Self.body),
                                          "client_msg_id": .string(UUID().uuidString)])
        process.terminate()
        try await offPool { process.waitUntilExit() }

        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        let lines = log.split(separator: "\n")
        #expect(lines.count >= 3, "\(log)")
        var loginFailures = 0
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let object else {
                Issue.record("not a JSON object: \(line)")
                continue
            }
            let time = object["ts"] as? String ?? ""
            #expect(time.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+09:00/) != nil, "timestamp \(time)")
            #expect(object["level"] is String && object["msg"] is String && object["logger"] is String)
            if object["msg"] as? String == "login failed" {
                loginFailures += 1
                #expect((object["request_id"] as? String)?.count == 12, "\(line)")
            }
            for secret in [Self.email, "ghost@sakura.test", "nurse@sakura.test", Self.name, Self.title, Self.body, token,
                           Self.password, "wrong password", "Kato", "Yamamoto"] {
                #expect(!line.contains(secret), "a log line carries personal data or a token: \(line)")
            }
            #expect(!line.contains("@"), "an address-like value in a log line: \(line)")
        }
        #expect(loginFailures == 2, "\(log)")
    }

    /// `--log-format text` is for a person: one line per event, milliseconds, the zone given —
    /// the balancer too honours --time-zone.
    @Test(.timeLimit(.minutes(5)))
    func textFormatOnRequestAndTheBalancerHonoursTheZone() async throws {
        let scratch = try CommandRun.scratchDirectory("logs-text")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let common = ["--store", scratch + "/s.sqlite", "--master-key-file", scratch + "/k"]
        let boot = try await CommandRun.run(["admin", "bootstrap", "--org", "O", "--email", "a@o.test", "--password-stdin"] + common,
                                            in: scratch, stdin: Self.password)
        try #require(boot.status == 0, "\(boot.stderr)")
        let logFile = scratch + "/balancer.log"
        let (process, _) = try await Self.startNode(["balance", "--listen", "127.0.0.1:0", "--log-format", "text",
                                                     "--time-zone", "America/New_York"] + common, stderr: logFile)
        try await Task.sleep(for: .milliseconds(500))
        process.terminate()
        try await offPool { process.waitUntilExit() }
        let lines = try String(contentsOfFile: logFile, encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(!line.hasPrefix("{"), "\(line)")
            #expect(line.firstMatch(of: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}-0[45]:00 [a-z]+ tsunagu\./) != nil, "\(line)")
        }
    }

    static func startNode(_ arguments: [String], stderr: String) async throws -> (Process, Int) {
        try await offPool {
            FileManager.default.createFile(atPath: stderr, contents: nil)
            let process = Process()
            process.executableURL = TsunaguExecutable.url
            process.arguments = arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle(forWritingAtPath: stderr)
            try process.run()
            var line = ""
            while !line.hasSuffix("\n") {
                let byte = output.fileHandleForReading.readData(ofLength: 1)
                if byte.isEmpty { throw TestFailure("the node exited before listening: \((try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")") }
                line += String(decoding: byte, as: UTF8.self)
            }
            guard let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
                throw TestFailure("unexpected first line \(line)")
            }
            return (process, port)
        }
    }
}
