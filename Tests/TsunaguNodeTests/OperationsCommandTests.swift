import Foundation
import Testing
import TsunaguCore

/// The operator commands of docs/operations.md ("Notices, incidents and monitors", "Metrics"),
/// run as the real executable on a store made by `admin bootstrap`. One at a time: each starts
/// several processes, and Foundation's `Process.run` has crashed reading /proc/self/fd while the
/// test process held ~1,600 descriptors from the many suites running in parallel.
@Suite(.serialized, .processHeavy) struct OperationsCommandTests {
    static func future(hours: Double) -> String {
        WireTime.japan.format(millis: WireTime.nowMillis() + Int64(hours * 3_600_000))
    }

    @Test func noticesAddListRemove() async throws {
        let store = try await OperatorStore.make("notices")
        defer { store.remove() }
        let add = try await TsunaguExecutable.run(["notices", "add", "--kind", "change", "--starts", Self.future(hours: 24),
                                                   "--text", "Upgrade tonight"] + store.common)
        #expect(add.status == 0, "\(add.output)")
        #expect(add.output.contains("mailed 1 organization admins"))
        let id = try #require(add.output.split(separator: " ").dropFirst().first.map { String($0.dropLast()) })
        #expect(id.hasPrefix("nt_"))
        let list = try await TsunaguExecutable.run(["notices", "list"] + store.common)
        #expect(list.output.contains(id) && list.output.contains("Upgrade tonight"))
        // The mail waits in the outbox for a node to deliver it; the command is audited.
        let audit = try await TsunaguExecutable.run(["audit", "verify"] + store.common)
        #expect(audit.status == 0, "\(audit.output)")
        #expect(try await TsunaguExecutable.run(["notices", "remove", id] + store.common).status == 0)
        #expect(!(try await TsunaguExecutable.run(["notices", "list"] + store.common)).output.contains(id))
        let again = try await TsunaguExecutable.run(["notices", "remove", id] + store.common)
        #expect(again.status == 1 && again.output.contains("no notice"))
    }

    @Test func badNoticeAndIncidentArgumentsAreOneLineErrors() async throws {
        let store = try await OperatorStore.make("notices-bad")
        defer { store.remove() }
        let cases: [([String], String)] = [
            (["notices", "add", "--kind", "outage", "--starts", Self.future(hours: 1), "--text", "x"], "--kind"),
            (["notices", "add", "--kind", "change", "--starts", "tomorrow", "--text", "x"], "--starts"),
            (["notices", "add", "--kind", "change", "--starts", Self.future(hours: -1), "--text", "x"], "--starts"),
            (["notices", "add", "--kind", "change", "--starts", Self.future(hours: 2), "--ends", Self.future(hours: 1),
              "--text", "x"], "--ends"),
            (["notices", "add", "--kind", "change", "--starts", Self.future(hours: 1), "--text", " "], "--text"),
            (["incidents", "open", "--orgs", "Nowhere", "--detected", Self.future(hours: -1), "--text", "x"], "--orgs"),
            (["incidents", "open", "--orgs", "O", "--detected", Self.future(hours: 5), "--text", "x"], "--detected"),
            (["nodes", "list", "--prometheus-sd"], "--prometheus-sd"),
        ]
        for (arguments, flag) in cases {
            let result = try await TsunaguExecutable.run(arguments + store.common)
            #expect(result.status == 2, "\(arguments)")
            let lines = result.output.split(separator: "\n")
            #expect(lines.count == 1 && result.output.contains(flag), "\(arguments): \(result.output)")
        }
    }

    @Test func incidentsReportDetectionToNotice() async throws {
        let store = try await OperatorStore.make("incidents")
        defer { store.remove() }
        let open = try await TsunaguExecutable.run(["incidents", "open", "--orgs", "O", "--detected", Self.future(hours: -80),
                                                    "--text", "Backup disk lost"] + store.common)
        #expect(open.status == 0, "\(open.output)")
        let id = try #require(open.output.split(separator: " ").dropFirst().first.map(String.init))
        let due = try await TsunaguExecutable.run(["incidents", "list"] + store.common)
        #expect(due.output.contains("overdue by 8h"), "\(due.output)")
        let notify = try await TsunaguExecutable.run(["incidents", "notify", id] + store.common)
        #expect(notify.status == 0, "\(notify.output)")
        #expect(notify.output.contains("mailed 1 admins") && notify.output.contains("missed"))
        let list = try await TsunaguExecutable.run(["incidents", "list"] + store.common)
        #expect(list.output.contains(id) && list.output.contains("80h00m") && list.output.contains("missed"), "\(list.output)")
        #expect(try await TsunaguExecutable.run(["incidents", "close", id] + store.common).status == 0)
        #expect(try await TsunaguExecutable.run(["incidents", "list"] + store.common).output.contains("closed"))
        #expect(try await TsunaguExecutable.run(["incidents", "notify", id] + store.common).status == 1)
    }

    @Test(.processHeavy) func nodesListJSONNamesTheAdminListenerForPrometheus() async throws {
        let store = try await OperatorStore.make("nodes-json")
        defer { store.remove() }
        let node = try await NodeProcess.start(["serve", "--listen", "127.0.0.1:0", "--node-id", "n_json",
                                                "--admin-listen", "127.0.0.1:0", "--data-location", "JP/Tokyo"] + store.common)
        defer { node.stopInBackground() }
        var listed: [JSONValue] = []
        for _ in 0..<50 {
            let result = try await TsunaguExecutable.run(["nodes", "list", "--json"] + store.common, separateStandardError: true)
            listed = try JSONValue.parse(result.output).arrayValue ?? []
            if listed.first?.objectValue?["state"]?.stringValue == "active" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let entry = try #require(listed.first?.objectValue)
        #expect(entry["id"]?.stringValue == "n_json")
        #expect(entry["address"]?.stringValue == "127.0.0.1:\(node.port)")
        #expect(entry["state"]?.stringValue == "active")
        #expect(entry["heartbeat"]?.stringValue?.hasSuffix("+09:00") == true)
        let admin = try #require(entry["admin_address"]?.stringValue)
        #expect(admin.hasPrefix("127.0.0.1:") && admin != "127.0.0.1:0")
        let sd = try await TsunaguExecutable.run(["nodes", "list", "--json", "--prometheus-sd"] + store.common,
                                                 separateStandardError: true)
        let groups = try JSONValue.parse(sd.output).arrayValue ?? []
        #expect(groups.first?.objectValue?["targets"] == .array([.string(admin)]))
        #expect(groups.first?.objectValue?["labels"]?.objectValue?["node"]?.stringValue == "n_json")
        // The file_sd writer of cluster/prometheus/ writes the same list.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let targets = store.directory + "/targets/tsunagu-nodes.json"
        let script = try await offPool { () -> Int32 in
            let process = Process()
            process.executableURL = root.appendingPathComponent("cluster/prometheus/tsunagu-sd.sh")
            process.arguments = [targets, "1", "--"] + store.common
            process.environment = ProcessInfo.processInfo.environment.merging(
                ["ONCE": "1", "TSUNAGU": TsunaguExecutable.url.path]) { $1 }
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        #expect(script == 0)
        let written = try JSONValue.parse(try String(contentsOfFile: targets, encoding: .utf8))
        #expect(written.arrayValue?.first?.objectValue?["targets"] == .array([.string(admin)]))
    }

    @Test func serveRefusesABadDataLocationOrThreshold() async throws {
        for (flag, value) in [("--data-location", "Japan"), ("--monitor-login-failures", "lots"),
                              ("--monitor-fan-out", "10/0m")] {
            let result = try await TsunaguExecutable.run(["serve", "--listen", "127.0.0.1:0", flag, value])
            #expect(result.status == 2, "\(flag)")
            #expect(result.output.split(separator: "\n").count == 1 && result.output.contains(flag), "\(result.output)")
        }
        // `up` takes the same flags and passes them to its nodes.
        let up = try await TsunaguExecutable.run(["up", "--port", "1", "--data-location", "jp/tokyo"])
        #expect(up.status == 2 && up.output.contains("--data-location"), "\(up.output)")
    }
}
