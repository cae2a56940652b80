import Foundation
import Testing

/// `--config FILE` < `TSUNAGU_*` < flags, for every command family (docs/operations.md,
/// "Configuration"); `config check` and `config example`; `version`. Values are chosen so the
/// command refuses them and says which it got: no server starts.
@Suite struct ConfigurationTests {
    /// A command, and how its answer shows the value it used for a setting.
    struct Family: Sendable {
        var name: String
        var arguments: [String]
        var key: String
        var flag: String
        /// The value for each layer; the answer must contain the winner's marker.
        var values: (file: String, environment: String, flag: String)
        var marker: @Sendable (String) -> String
    }

    static let families: [Family] = {
        let zone: @Sendable (String) -> String = { "unknown zone '\($0)'" }
        let stores = (file: "/nonexistent/file.sqlite", environment: "/nonexistent/env.sqlite", flag: "/nonexistent/flag.sqlite")
        let storeMarker: @Sendable (String) -> String = { "no store at \($0)" }
        return [
            Family(name: "serve", arguments: ["serve"], key: "time_zone", flag: "--time-zone",
                   values: ("Mars/File", "Mars/Env", "Mars/Flag"), marker: zone),
            Family(name: "up", arguments: ["up"], key: "time_zone", flag: "--time-zone",
                   values: ("Mars/File", "Mars/Env", "Mars/Flag"), marker: zone),
            Family(name: "balance", arguments: ["balance"], key: "time_zone", flag: "--time-zone",
                   values: ("Mars/File", "Mars/Env", "Mars/Flag"), marker: zone),
            Family(name: "nodes", arguments: ["nodes", "list"], key: "store", flag: "--store", values: stores, marker: storeMarker),
            Family(name: "admin", arguments: ["admin", "add-user", "--email", "b@o.test", "--name", "B", "--password-stdin"],
                   key: "store", flag: "--store", values: stores, marker: storeMarker),
            Family(name: "audit", arguments: ["audit", "verify"], key: "store", flag: "--store", values: stores, marker: storeMarker),
            Family(name: "backup", arguments: ["backup"], key: "store", flag: "--store", values: stores, marker: storeMarker),
            Family(name: "version", arguments: ["version"], key: "data_location", flag: "--data-location",
                   values: ("JP/File", "JP/Env", "JP/Flag"), marker: { "data location: \($0)" }),
        ]
    }()

    @Test(arguments: families.map(\.name))
    func fileThenEnvironmentThenFlag(family name: String) async throws {
        let family = try #require(Self.families.first { $0.name == name })
        let scratch = try CommandRun.scratchDirectory("config-\(name)")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // `listen` from the command's section: a required option filled from the file.
        let file = scratch + "/tsunagu.yaml"
        try """
            # precedence test
            \(family.key): \(family.values.file)
            serve:
              listen: 127.0.0.1:0
            balance:
              listen: 127.0.0.1:0
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let environmentName = "TSUNAGU_" + family.key.uppercased()
        let layers: [(label: String, arguments: [String], environment: [String: String], winner: String)] = [
            ("file", family.arguments + ["--config", file], [:], family.values.file),
            ("environment", family.arguments + ["--config", file], [environmentName: family.values.environment], family.values.environment),
            ("flag", family.arguments + ["--config", file, family.flag, family.values.flag],
             [environmentName: family.values.environment], family.values.flag),
            ("TSUNAGU_CONFIG", family.arguments, ["TSUNAGU_CONFIG": file], family.values.file),
        ]
        for layer in layers {
            let run = try await CommandRun.run(layer.arguments, in: scratch, environment: layer.environment, stdin: "long enough password")
            let answer = run.stdout + run.stderr
            #expect(answer.contains(family.marker(layer.winner)), "\(name), \(layer.label) should win: \(answer)")
            #expect(!run.signalled && !run.timedOut)
        }
    }

    /// A key under a command's section wins over the top level, for that command only; in the
    /// environment the section is part of the name.
    @Test func aCommandSectionWinsOverTheTopLevel() async throws {
        let scratch = try CommandRun.scratchDirectory("config-section")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = scratch + "/tsunagu.yaml"
        try "time_zone: Mars/Top\nserve:\n  listen: 127.0.0.1:0\n  time_zone: Mars/Serve\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let serve = try await CommandRun.run(["serve", "--config", file], in: scratch)
        #expect(serve.status == 2 && serve.stderr.contains("unknown zone 'Mars/Serve'"), "\(serve.stderr)")
        let up = try await CommandRun.run(["up", "--config", file], in: scratch)
        #expect(up.status == 2 && up.stderr.contains("unknown zone 'Mars/Top'"), "\(up.stderr)")
        let scoped = try await CommandRun.run(["serve", "--config", file], in: scratch, environment: ["TSUNAGU_SERVE_TIME_ZONE": "Mars/EnvServe"])
        #expect(scoped.stderr.contains("unknown zone 'Mars/EnvServe'"), "\(scoped.stderr)")
        // Lists and flags from the file.
        try "serve:\n  listen: 127.0.0.1:0\n  trusted_proxy: [10.0.0.0/8, 10.0.0.0/99]\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let list = try await CommandRun.run(["serve", "--config", file], in: scratch)
        #expect(list.status == 2 && list.stderr.contains("--trusted-proxy: '10.0.0.0/99'"), "\(list.stderr)")
    }

    /// Secrets only from the environment or files: the config file refuses them without echoing them.
    @Test func passwordsAreRefusedInTheFileButNotInTheEnvironment() async throws {
        let scratch = try CommandRun.scratchDirectory("config-secret")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = scratch + "/tsunagu.yaml"
        try "serve:\n  listen: 127.0.0.1:0\nsmtp_url: smtp://mailer:hunter2@127.0.0.1:2525\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try await CommandRun.run(["serve", "--config", file], in: scratch)
        #expect(refused.status == 2 && refused.stderr.contains("smtp_url"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("hunter2"))
        let check = try await CommandRun.run(["config", "check", "--config", file], in: scratch)
        #expect(check.status == 1 && check.stdout.contains(":3: smtp_url:"), "\(check.stdout)")
        #expect(!(check.stdout + check.stderr).contains("hunter2"))
        // The password from the environment passes the configuration (and stops at the missing
        // store); a URL never carries it, from anywhere (docs/protocol.md, node flags).
        try "serve:\n  listen: 127.0.0.1:0\n".write(toFile: file, atomically: true, encoding: .utf8)
        let fromEnvironment = try await CommandRun.run(["serve", "--config", file], in: scratch,
                                                       environment: ["TSUNAGU_SMTP_URL": "smtp://mailer@127.0.0.1:2525",
                                                                     "TSUNAGU_SMTP_PASSWORD": "hunter2"])
        #expect(fromEnvironment.status == 1 && fromEnvironment.stderr.contains("no store at"), "\(fromEnvironment.stderr)")
    }

    @Test func configCheckNamesTheLineAndTheKey() async throws {
        let scratch = try CommandRun.scratchDirectory("config-check")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = scratch + "/bad.yaml"
        try """
            # a config with four mistakes
            store: /var/lib/tsunagu/tsunagu.sqlite
            time_zone: Mars/Olympus
            tim_zone: Asia/Tokyo
            serve:
              listen: nowhere
            max_message_bytes: lots
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try await CommandRun.run(["config", "check", "--config", file], in: scratch)
        #expect(check.status == 1, "\(check.stdout) \(check.stderr)")
        #expect(check.errorLines.count == 1 && check.stderr.contains("bad.yaml:3: time_zone:"), "\(check.stderr)")
        for expected in [":3: time_zone:", ":4: tim_zone: unknown key", ":6: serve.listen:", ":7: max_message_bytes:"] {
            #expect(check.stdout.contains(expected), "missing \(expected) in \(check.stdout)")
        }
        #expect(!check.stdout.contains(":2:"), "the store line is fine: \(check.stdout)")

        try "store: x\nserve: [unclosed\n".write(toFile: file, atomically: true, encoding: .utf8)
        let syntax = try await CommandRun.run(["config", "check", "--config", file], in: scratch)
        #expect(syntax.status == 1 && syntax.stderr.contains("bad.yaml:"), "\(syntax.stderr)")
        #expect(syntax.stderr.contains("not valid YAML"), "\(syntax.stderr)")

        try "store: /var/lib/tsunagu/tsunagu.sqlite\ntime_zone: UTC\nserve:\n  listen: 127.0.0.1:9001\n  insecure_plaintext: true\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let good = try await CommandRun.run(["config", "check", "--config", file], in: scratch)
        #expect(good.status == 0 && good.stdout.contains("ok (4 setting(s))"), "\(good.stdout) \(good.stderr)")
    }

    /// The example names every option of the service commands, and passes the check with every
    /// key that has a default uncommented.
    @Test func configExampleIsCompleteAndChecksClean() async throws {
        let scratch = try CommandRun.scratchDirectory("config-example")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let example = try await CommandRun.run(["config", "example"], in: scratch)
        #expect(example.status == 0)
        for key in ["store", "master_key_file", "time_zone", "tls_cert", "smtp_url", "public_url", "listen", "admin_listen",
                    "log_format", "log_level", "trusted_proxy", "source_addresses", "backup_dir", "data_location"] {
            #expect(example.stdout.contains("# \(key): "), "no \(key) in the example")
        }
        let uncommented = example.stdout.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            guard let match = line.wholeMatch(of: /# ([a-z_]+): (.*)/), !match.2.contains("<"),
                  !["password_stdin", "force", "create_org", "all", "json"].contains(String(match.1)) else { return line }
            return line.dropFirst(2)
        }.joined(separator: "\n")
        try uncommented.write(toFile: scratch + "/example.yaml", atomically: true, encoding: .utf8)
        let check = try await CommandRun.run(["config", "check", "--config", scratch + "/example.yaml"], in: scratch)
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
    }

    @Test func versionPrintsTheVersionCommitBuildDateAndDataLocation() async throws {
        let scratch = try CommandRun.scratchDirectory("version")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for arguments in [["version"], ["--version"]] {
            let run = try await CommandRun.run(arguments, in: scratch, environment: ["TSUNAGU_DATA_LOCATION": "JP/Tokyo"])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.firstMatch(of: /^tsunagu \d+\.\d+\.\d+$/.anchorsMatchLineEndings()) != nil, "\(run.stdout)")
            #expect(run.stdout.firstMatch(of: /commit: [0-9a-f]{12}/) != nil, "\(run.stdout)")
            #expect(run.stdout.firstMatch(of: /built: \d{4}-\d{2}-\d{2}/) != nil, "\(run.stdout)")
            #expect(run.stdout.contains("data location: JP/Tokyo"), "\(run.stdout)")
        }
    }
}
