import Foundation
import Testing

/// cluster/systemd/: the units parse (`systemd-analyze verify`, where systemd is installed) and
/// carry the limits and hardening docs/operations.md promises.
@Suite struct SystemdUnitTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("cluster/systemd").path
    static let units = ["tsunagu-node@.service", "tsunagu-balancer.service", "tsunagu-backup.service", "tsunagu-backup.timer"]

    @Test func everyServiceIsHardenedAndGetsTheKeyAsACredential() throws {
        for unit in Self.units where unit.hasSuffix(".service") {
            let text = try String(contentsOfFile: Self.directory + "/" + unit, encoding: .utf8)
            for directive in ["User=tsunagu", "LimitNOFILE=", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                              "ReadWritePaths=/var/lib/tsunagu", "LoadCredential=master.key:/etc/tsunagu/master.key",
                              "ExecStart=/usr/local/bin/tsunagu "] {
                #expect(text.contains(directive), "\(unit) lacks \(directive)")
            }
            #expect(!text.contains("--master-key-file"), "\(unit): the key comes from the credential, not a path")
        }
        let timer = try String(contentsOfFile: Self.directory + "/tsunagu-backup.timer", encoding: .utf8)
        #expect(timer.contains("OnCalendar=") && timer.contains("Persistent=true"))
    }

    /// Each unit as systemd reads it: no unknown key, no bad value, its command executable (the
    /// binary path is pointed at the one just built, as an install would put it in place).
    static let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first(where: FileManager.default.isExecutableFile)

    /// Skipped, with the reason in the test report, where systemd is not installed (.ci/run installs it).
    @Test(.enabled(if: analyze != nil, "systemd-analyze is not installed (apt-get install systemd)"))
    func systemdAnalyzeVerifyAcceptsTheUnits() async throws {
        let analyze = try #require(Self.analyze)
        let scratch = try CommandRun.scratchDirectory("systemd")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var paths: [String] = []
        for unit in Self.units {
            let text = try String(contentsOfFile: Self.directory + "/" + unit, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/tsunagu", with: TsunaguExecutable.url.path)
            // A template is verified as one of its instances.
            let name = unit.replacingOccurrences(of: "@.service", with: "@9001.service")
            try text.write(toFile: scratch + "/" + name, atomically: true, encoding: .utf8)
            paths.append(scratch + "/" + name)
        }
        let unitPaths = paths
        let result = try await offPool { () -> (Int32, String) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: analyze)
            process.arguments = ["verify"] + unitPaths
            process.currentDirectoryURL = URL(fileURLWithPath: scratch)
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        // Unknown keys are only warnings for systemd: any output at all is a finding here.
        #expect(result.0 == 0 && result.1.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(result.1)")
    }
}
