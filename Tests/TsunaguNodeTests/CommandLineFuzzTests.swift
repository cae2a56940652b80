import Foundation
import Testing

/// Every subcommand run with odd paths and values, as a new operator types them: bare names,
/// missing directories, `~`, empty strings, directories where files are expected, huge numbers,
/// bad URLs. Each run must end by itself with status 0, 1 or 2; a failure is exactly one line on
/// standard error starting `tsunagu: `; never a signal (the SIGILL of Foundation's path handling),
/// never a stack dump or a raw `NSCocoaErrorDomain` error.
@Suite(.processHeavy) struct CommandLineFuzzTests {
    /// One case: the arguments and whether success (status 0) is a fair outcome for them.
    struct Case: Sendable, CustomStringConvertible {
        var arguments: [String]
        var stdin: String? = nil
        var mayRunForever = false
        var description: String { arguments.map { $0.isEmpty ? "''" : $0.count > 40 ? String($0.prefix(40)) + "…" : $0 }.joined(separator: " ") }
    }

    static let crashMarkers = ["Fatal error", "Stack dump", "Current stack trace", "NSCocoaErrorDomain", "Error Domain=",
                               "SIGILL", "Illegal instruction", "backtrace"]

    /// Paths a command may meet; `{dir}`, `{file}` and `{garbage}` are filled in per run.
    static let oddPaths = ["", " ", "k", "nodir/x.sqlite", "~", "~/", "~/nodir/x", "~nobody/x", "{dir}", "{file}", "{garbage}",
                           "/dev/null/x", ".", "..", String(repeating: "a/", count: 3000) + "x"]
    static let oddNumbers = ["", "99999999999999999999", "-1", "0", "1e9", "abc", "9223372036854775807"]
    static let oddURLs = ["", "ftp://x", "http://", "::::", "smtp://", "smtp://:0", "http://[::1", "javascript:alert(1)"]
    static let oddAddresses = ["", "nowhere", "127.0.0.1:99999", ":80", "[::1]", "127.0.0.1:-1", "127.0.0.1:abc"]

    static func cases() -> [Case] {
        var cases: [Case] = []
        // Commands that end by themselves, each with the flags that take a path.
        let finite: [(command: [String], paths: [String], stdin: String?)] = [
            (["nodes", "list"], ["--store", "--master-key-file"], nil),
            (["nodes", "add", "127.0.0.1:1"], ["--store", "--master-key-file", "--log"], nil),
            (["nodes", "drain", "n_x", "--wait", "1"], ["--store", "--master-key-file"], nil),
            (["nodes", "remove", "n_x"], ["--store", "--master-key-file"], nil),
            (["admin", "bootstrap", "--org", "O", "--email", "a@o.test", "--password-stdin"], ["--store", "--master-key-file"],
             "long enough password"),
            (["admin", "add-user", "--email", "b@o.test", "--name", "B", "--password-stdin"], ["--store", "--master-key-file"],
             "long enough password"),
            (["admin", "reset-password", "--email", "a@o.test", "--password-stdin"], ["--store", "--master-key-file"],
             "another long password"),
            (["audit", "verify"], ["--store", "--master-key-file"], nil),
            (["backup"], ["--store", "--master-key-file", "--to"], nil),
            (["restore"], ["--store", "--master-key-file", "--from"], nil),
            (["balance", "--listen", "127.0.0.1:1", "--emit-config", "nginx"], ["--store", "--master-key-file"], nil),
        ]
        for (command, flags, stdin) in finite {
            for flag in flags {
                for path in oddPaths {
                    var arguments = command + [flag, path]
                    if command == ["restore"] && flag != "--from" { arguments += ["--from", "{garbage}"] }
                    cases.append(Case(arguments: arguments, stdin: stdin))
                }
            }
        }
        // Long-running commands: only values that must be refused, so none of them starts.
        for value in oddNumbers {
            cases.append(Case(arguments: ["up", "--port", value], mayRunForever: true))
            cases.append(Case(arguments: ["up", "--nodes", value], mayRunForever: true))
            for flag in ["--max-message-bytes", "--session-ttl", "--link-lifetime", "--event-loops"] {
                cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", flag, value]))
            }
            cases.append(Case(arguments: ["balance", "--listen", "127.0.0.1:0", "--event-loops", value]))
            cases.append(Case(arguments: ["nodes", "drain", "n_x", "--wait", value]))
        }
        for path in ["", "{dir}", "{dir}/"] {
            cases.append(Case(arguments: ["up", "--store", path], mayRunForever: true))
        }
        for path in ["", "{dir}", "nofile", "~/nofile", "{dir}/"] {
            cases.append(Case(arguments: ["up", "--tls-cert", path, "--tls-key", path], mayRunForever: true))
            cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", "--tls-cert", path, "--tls-key", "{file}"]))
            cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", "--tls-cert", "{garbage}", "--tls-key", path]))
            cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", "--store", path]))
        }
        cases.append(Case(arguments: ["up", "--backup-dir", "{file}"], mayRunForever: true))
        cases.append(Case(arguments: ["up", "--master-key-file", "{dir}"], mayRunForever: true))
        for url in oddURLs {
            cases.append(Case(arguments: ["up", "--public-url", url], mayRunForever: true))
            cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", "--smtp-url", url]))
            cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", "--public-url", url]))
        }
        for address in oddAddresses {
            cases.append(Case(arguments: ["serve", "--listen", address]))
            cases.append(Case(arguments: ["balance", "--listen", address]))
            cases.append(Case(arguments: ["nodes", "add", address]))
            cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", "--admin-listen", address]))
        }
        for zone in ["", "Mars/Olympus", "../../etc/passwd"] {
            cases.append(Case(arguments: ["up", "--time-zone", zone], mayRunForever: true))
            cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", "--time-zone", zone]))
        }
        for odd in ["", "1.2.3.4/99", "x"] {
            cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", "--trusted-proxy", odd]))
            cases.append(Case(arguments: ["balance", "--listen", "127.0.0.1:0", "--source-addresses", odd]))
        }
        cases.append(Case(arguments: ["balance", "--listen", "127.0.0.1:0", "--emit-config", "apache"]))
        cases.append(Case(arguments: ["admin", "bootstrap", "--org", "O", "--email", "", "--password-stdin"], stdin: "long enough password"))
        cases.append(Case(arguments: ["admin", "add-user", "--email", "x@y", "--name", "", "--password-stdin"], stdin: ""))
        cases.append(Case(arguments: ["admin", "add-user", "--email", "x@y", "--name", "X", "--role", "king", "--password-stdin"]))
        // The configuration file and the commands around it.
        for path in oddPaths {
            cases.append(Case(arguments: ["config", "check", "--config", path]))
            cases.append(Case(arguments: ["nodes", "list", "--config", path]))
        }
        cases.append(Case(arguments: ["serve", "--config", "{garbage}"]))
        cases.append(Case(arguments: ["serve", "--config"]))
        cases.append(Case(arguments: ["config", "example"]))
        cases.append(Case(arguments: ["version", "--data-location", ""]))
        cases.append(Case(arguments: ["--version"]))
        for format in ["", "xml", "JSON"] {
            cases.append(Case(arguments: ["serve", "--listen", "127.0.0.1:0", "--log-format", format]))
            cases.append(Case(arguments: ["up", "--log-level", format], mayRunForever: true))
        }
        cases.append(Case(arguments: ["nosuchcommand"]))
        cases.append(Case(arguments: ["nodes"]))
        cases.append(Case(arguments: ["--store"]))
        return cases
    }

    @Test(.timeLimit(.minutes(8)))
    func everySubcommandAnswersOddPathsAndValuesInOneLineWithoutCrashing() async throws {
        let scratch = try CommandRun.scratchDirectory("fuzz")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var failures: [String] = []
        var ran = 0
        // Small batches: a few processes at a time on a shared machine.
        let all = Self.cases()
        for batchStart in stride(from: 0, to: all.count, by: 4) {
            let batch = Array(all[batchStart..<min(batchStart + 4, all.count)])
            let results = try await withThrowingTaskGroup(of: (Case, CommandRun).self) { group in
                for (offset, fuzzCase) in batch.enumerated() {
                    // Each case in a directory of its own: no case sees what another created.
                    let directory = scratch + "/c\(batchStart + offset)"
                    try Self.prepare(directory)
                    let arguments = fuzzCase.arguments.map { Self.fill($0, directory) }
                    group.addTask {
                        (fuzzCase, try await CommandRun.run(arguments, in: directory, environment: ["HOME": directory + "/home"],
                                                           stdin: fuzzCase.stdin, seconds: 20))
                    }
                }
                var results: [(Case, CommandRun)] = []
                for try await result in group { results.append(result) }
                return results
            }
            for (fuzzCase, run) in results {
                ran += 1
                if let problem = Self.problem(with: run, fuzzCase) { failures.append("\(fuzzCase): \(problem)") }
            }
        }
        #expect(ran > 300, "ran \(ran) cases")
        let report = failures.prefix(30).joined(separator: "\n")
        #expect(failures.isEmpty, "\(failures.count) of \(ran) cases failed:\n\(report)")
    }

    /// What is wrong with a run, or nil.
    static func problem(with run: CommandRun, _ fuzzCase: Case) -> String? {
        if run.timedOut { return fuzzCase.mayRunForever ? "started instead of refusing the value" : "did not end within 20 s" }
        if run.signalled { return "killed by signal \(run.status)" }
        for marker in crashMarkers where run.stderr.contains(marker) || run.stdout.contains(marker) {
            return "output contains \(marker): \(run.stderr.prefix(300))"
        }
        switch run.status {
        case 0:
            return fuzzCase.mayRunForever ? "exit 0 from a command that should have refused" : nil
        case 1, 2:
            let lines = run.errorLines
            guard lines.count == 1, lines[0].hasPrefix("tsunagu: ") else {
                return "exit \(run.status) with \(lines.count) error line(s): \(run.stderr.prefix(300))"
            }
            return nil
        default:
            return "exit status \(run.status): \(run.stderr.prefix(300))"
        }
    }

    /// A directory, a plain file and a file of garbage where the cases expect other things.
    static func prepare(_ directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory + "/home", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/adir", withIntermediateDirectories: true)
        try Data("plain file\n".utf8).write(to: URL(fileURLWithPath: directory + "/afile"))
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: directory + "/garbage"))
    }

    static func fill(_ argument: String, _ directory: String) -> String {
        argument.replacingOccurrences(of: "{dir}", with: directory + "/adir")
            .replacingOccurrences(of: "{file}", with: directory + "/afile")
            .replacingOccurrences(of: "{garbage}", with: directory + "/garbage")
    }
}
