import Foundation
import NIOCore
import NIOPosix
import Testing
import TsunaguClient

/// What a new operator tripped over (issue 14 item 5), each run as typed: bare and `~` paths,
/// a missing store, a file where a directory belongs, a certificate name mistyped, `nodes add`
/// beside a store named bare, a busy port, a second `up`, a forgotten password.
@Suite(.processHeavy) struct OperatorPitfallTests {
    static let password = "long enough password"

    @Test(.timeLimit(.minutes(5)))
    func pathsResolveTheSameWayBareRelativeAndHome() async throws {
        let scratch = try CommandRun.scratchDirectory("paths")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let home = ["HOME": scratch + "/home"]
        // A bare one-letter key file and a bare store file (SIGILL in Foundation before).
        let boot = try await CommandRun.run(["admin", "bootstrap", "--master-key-file", "k", "--store", "s.sqlite", "--org", "O",
                                             "--email", "a@o.test", "--password-stdin"], in: scratch, environment: home,
                                            stdin: Self.password)
        #expect(boot.status == 0 && !boot.signalled, "\(boot.stderr)")
        #expect(FileManager.default.fileExists(atPath: scratch + "/k"))
        #expect(FileManager.default.fileExists(atPath: scratch + "/s.sqlite"))
        let verify = try await CommandRun.run(["audit", "verify", "--store", "s.sqlite", "--master-key-file", "k"], in: scratch)
        #expect(verify.status == 0 && verify.stdout.contains("audit log intact"), "\(verify.stderr)")
        // The key file is no store: one line, exit 1 (SIGILL before).
        let notAStore = try await CommandRun.run(["audit", "verify", "--store", "k", "--master-key-file", "k"], in: scratch)
        #expect(notAStore.status == 1 && notAStore.errorLines.count == 1 && !notAStore.signalled, "\(notAStore.stderr)")

        // A start that cannot open its store leaves no new key behind, and says so in one line.
        try Data(repeating: 0x5a, count: 4096).write(to: URL(fileURLWithPath: scratch + "/garbage.sqlite"))
        let failed = try await CommandRun.run(["admin", "bootstrap", "--master-key-file", "newkey", "--store", "garbage.sqlite",
                                               "--org", "O", "--email", "a@o.test", "--password-stdin"], in: scratch, stdin: Self.password)
        #expect(failed.status == 1 && failed.errorLines.count == 1, "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch + "/newkey"))

        // `~` is the home directory.
        let tilde = try await CommandRun.run(["admin", "bootstrap", "--master-key-file", "~/keys/k", "--store", "~/data/s.sqlite",
                                              "--org", "O", "--email", "a@o.test", "--password-stdin"], in: scratch,
                                             environment: home, stdin: Self.password)
        #expect(tilde.status == 0, "\(tilde.stderr)")
        #expect(FileManager.default.fileExists(atPath: scratch + "/home/keys/k"))
        #expect(FileManager.default.fileExists(atPath: scratch + "/home/data/s.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: scratch + "/~"))

        // A store that does not exist is refused, and nothing is made for it.
        let balance = try await CommandRun.run(["balance", "--store", "nodir/x.sqlite", "--master-key-file", "k",
                                                "--listen", "127.0.0.1:0"], in: scratch, seconds: 10)
        #expect(balance.status == 1 && balance.stderr.contains("no store at \(scratch)/nodir/x.sqlite"), "\(balance.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch + "/nodir"))

        // `backup --to FILE`: one line naming the flag, not an NSCocoaErrorDomain dump.
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch + "/FILE"))
        let backup = try await CommandRun.run(["backup", "--store", "s.sqlite", "--master-key-file", "k", "--to", "FILE"], in: scratch)
        #expect(backup.status == 2 && backup.errorLines.count == 1, "\(backup.stderr)")
        #expect(backup.stderr.contains("--to: \(scratch)/FILE is a file, not a directory"), "\(backup.stderr)")
        // …and into a relative directory it works, beside the working directory.
        let backupOK = try await CommandRun.run(["backup", "--store", "s.sqlite", "--master-key-file", "k", "--to", "bk"], in: scratch)
        #expect(backupOK.status == 0, "\(backupOK.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch + "/bk").count == 1)

        // A mistyped certificate is named with its flag.
        let tls = try await CommandRun.run(["serve", "--store", "s.sqlite", "--master-key-file", "k", "--listen", "127.0.0.1:0",
                                            "--tls-cert", "nofile", "--tls-key", "nofile"], in: scratch)
        #expect(tls.status == 2 && tls.stderr.contains("--tls-cert: no such file: \(scratch)/nofile"), "\(tls.stderr)")
    }

    /// `nodes add` beside a store named bare writes its log beside the store (it wrote to /logs/
    /// at the filesystem root) and starts the node with the settings `up` recorded.
    @Test(.timeLimit(.minutes(5)))
    func nodesAddLogsBesideTheStoreAndUsesTheClusterSettings() async throws {
        let scratch = try CommandRun.scratchDirectory("nodes-add")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let common = ["--store", "s.sqlite", "--master-key-file", "k"]
        let boot = try await CommandRun.run(["admin", "bootstrap", "--org", "O", "--email", "a@o.test", "--password-stdin"] + common,
                                            in: scratch, stdin: Self.password)
        try #require(boot.status == 0, "\(boot.stderr)")
        // What `tsunagu up --time-zone Europe/Berlin --mail-from hub@example.test` records.
        let settings = ["serve_arguments": ["--time-zone", "Europe/Berlin", "--mail-from", "hub@example.test",
                                            "--public-url", "http://127.0.0.1:1"]]
        try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: scratch + "/node-settings.json"))
        var added: CommandRun?
        var port = 0
        for _ in 0..<3 where added?.status != 0 {
            port = Int.random(in: 20_000...32_000)
            added = try await CommandRun.run(["nodes", "add", "127.0.0.1:\(port)", "--node-id", "n_add"] + common, in: scratch,
                                             seconds: 30)
        }
        let run = try #require(added)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: scratch + "/logs/node-\(port).log"))
        let pid = try #require(run.stdout.firstMatch(of: /pid (\d+)/).flatMap { Int32($0.1) })
        defer { kill(pid, SIGKILL) }
        let commandLine = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")), as: UTF8.self)
            .split(separator: "\0").map(String.init)
        #expect(commandLine.joined(separator: " ").contains("--time-zone Europe/Berlin"), "\(commandLine)")
        #expect(commandLine.joined(separator: " ").contains("--store \(scratch)/s.sqlite"), "\(commandLine)")
        let drain = try await CommandRun.run(["nodes", "drain", "n_add"] + common, in: scratch, seconds: 40)
        #expect(drain.status == 0, "\(drain.stderr)")
    }

    /// A taken port is reported before a key, a store or a process is made; a second `up` on the
    /// same store says how to get in; mail links follow `--port`.
    @Test(.timeLimit(.minutes(6)))
    func upChecksItsPortsFirstFollowsItsPortInLinksAndGreetsASecondStart() async throws {
        let scratch = try CommandRun.scratchDirectory("up-pitfalls")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let busy = try #require(holder.localAddress?.port)
        let refused = try await CommandRun.run(["up", "--port", String(busy), "--nodes", "1"], in: scratch, seconds: 20)
        try await holder.close()
        #expect(refused.status == 1 && refused.errorLines.count == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("--port: cannot listen on 127.0.0.1:\(busy)"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch + "/tsunagu-data"), "nothing is created on a busy port")

        for attempt in 0..<2 {
            let (process, output, port) = try await Self.startUp(in: scratch)
            defer { Self.stop(process) }
            if attempt == 0 {
                let settings = try String(contentsOfFile: scratch + "/tsunagu-data/node-settings.json", encoding: .utf8)
                #expect(settings.contains("http:\\/\\/127.0.0.1:\(port)") || settings.contains("http://127.0.0.1:\(port)"),
                        "\(settings)")
                #expect(output.text.contains("New store"))
            } else {
                #expect(output.text.contains("Existing store"), "\(output.text)")
                #expect(output.text.contains("tsunagu admin reset-password --email admin@demo.tsunagu.test"), "\(output.text)")
            }
        }
    }

    /// An operator sets a new password; the old sessions end and the new password logs in.
    @Test(.timeLimit(.minutes(5)))
    func resetPasswordEndsEverySessionOfTheAccount() async throws {
        let scratch = try CommandRun.scratchDirectory("reset")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let common = ["--store", scratch + "/s.sqlite", "--master-key-file", scratch + "/k"]
        let boot = try await CommandRun.run(["admin", "bootstrap", "--org", "O", "--email", "a@o.test", "--password-stdin"] + common,
                                            in: scratch, stdin: Self.password)
        try #require(boot.status == 0, "\(boot.stderr)")
        let node = try await NodeProcess.start(["serve", "--listen", "127.0.0.1:0", "--node-id", "n_reset"] + common)
        defer { node.stopInBackground() }
        let http = TsunaguHTTPClient(host: "127.0.0.1", port: node.port, group: MultiThreadedEventLoopGroup.singleton)
        let login = try await http.send("POST", "/v1/sessions", json: ["email": "a@o.test", "password": .string(Self.password)])
        let token = try #require(login.json?["token"]?.stringValue)
        #expect(try await http.send("GET", "/v1/me", token: token).status == 200)

        let unknown = try await CommandRun.run(["admin", "reset-password", "--email", "nobody@o.test", "--password-stdin"] + common,
                                               in: scratch, stdin: "a brand new passphrase")
        #expect(unknown.status == 1 && unknown.errorLines.count == 1, "\(unknown.stderr)")
        let reset = try await CommandRun.run(["admin", "reset-password", "--email", "a@o.test", "--password-stdin"] + common,
                                             in: scratch, stdin: "a brand new passphrase")
        #expect(reset.status == 0 && reset.stdout.contains("1 session(s) ended"), "\(reset.stdout) \(reset.stderr)")
        #expect(try await http.send("GET", "/v1/me", token: token).status == 401)
        let old = try await http.send("POST", "/v1/sessions", json: ["email": "a@o.test", "password": .string(Self.password)])
        #expect(old.status == 401)
        let new = try await http.send("POST", "/v1/sessions", json: ["email": "a@o.test", "password": "a brand new passphrase"])
        #expect(new.status == login.status && new.json?["token"]?.stringValue != nil)
        // One entry, committed with the new password: whose account, by the operator.
        let admin = try #require(new.json?["token"]?.stringValue)
        let exported = try await http.send("GET", "/v1/admin/audit/export?format=jsonl&action=admin.reset-password", token: admin)
        let resets = exported.text.split(separator: "\n")
        #expect(resets.count == 1 && resets.first?.contains("1 session(s) revoked") == true, "\(exported.text)")
    }

    private static func startUp(in directory: String) async throws -> (Process, OutputCollector, Int) {
        for _ in 0..<3 {
            let port = Int.random(in: 20_000...32_000)
            let process = Process()
            process.executableURL = TsunaguExecutable.url
            process.arguments = ["up", "--port", String(port), "--nodes", "1", "--no-backups"]
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            let output = OutputCollector()
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            pipe.fileHandleForReading.readabilityHandler = { handle in output.append(handle.availableData) }
            try process.run()
            if try await output.waitFor("Tsunagu is up at", seconds: 30, while: process) { return (process, output, port) }
            stop(process)
        }
        throw TestFailure("up did not start on three ports")
    }

    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<300 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
