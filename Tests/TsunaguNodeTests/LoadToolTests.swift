import Foundation
#if canImport(FoundationXML)
import FoundationXML  // XMLParser on Linux
#endif
import Testing
import TsunaguClient

/// `tsunagu-load` against a live node for a few seconds: its loss check passes and its JSON report
/// parses. No timing is asserted (benchmarks live in docs/benchmarks.md).
@Suite(.processHeavy(exclusive: true)) struct LoadToolTests {
    @Test func aShortLoadRunFindsNothingLost() async throws {
        try await withLiveNode { live in
            let result = try await TsunaguExecutable.run(
                ["--port", String(live.port), "--token=\(live.ownerToken)", "--timeline", live.timeline.rawValue,
                 "--connections", "30", "--publishers", "2", "--rate", "40", "--duration", "2", "--grace", "5",
                 "--json", "--quiet"],
                executable: "tsunagu-load", separateStandardError: true)
            #expect(result.status == 0)
            let report = try JSONValue.parse(result.output)
            #expect(report["passed"]?.boolValue == true, "\(report["loss_check"] ?? .null) \(report["errors"] ?? .null)")
            #expect(report["loss_check"]?["passed"]?.boolValue == true)
            #expect(report["loss_check"]?["missing"]?.intValue == 0)
            #expect((report["posts"]?["acked"]?.intValue ?? 0) > 0)
            #expect((report["deliveries"]?.intValue ?? 0) >= 30 * (report["posts"]?["acked"]?.intValue ?? 1))
        }
    }

    /// Subscribers in two worker processes: the parent merges both workers' counts and histograms,
    /// and the chart of the merged distribution is a well-formed SVG document.
    @Test func workerProcessesReportMergedCountsAndAPlot() async throws {
        let plot = FileManager.default.temporaryDirectory.appendingPathComponent("load-\(UUID().uuidString).svg").path
        defer { try? FileManager.default.removeItem(atPath: plot) }
        try await withLiveNode { live in
            let result = try await TsunaguExecutable.run(
                ["--port", String(live.port), "--token=\(live.ownerToken)", "--timeline", live.timeline.rawValue,
                 "--connections", "21", "--processes", "2", "--event-loops", "1", "--publishers", "1",
                 "--rate", "30", "--duration", "2", "--grace", "5", "--plot", plot, "--json", "--quiet"],
                executable: "tsunagu-load", separateStandardError: true)
            #expect(result.status == 0)
            let report = try JSONValue.parse(result.output)
            #expect(report["passed"]?.boolValue == true, "\(report["loss_check"] ?? .null) \(report["errors"] ?? .null)")
            #expect(report["loss_check"]?["passed"]?.boolValue == true)
            #expect(report["loss_check"]?["subscriptions"]?.intValue == 21)
            let workers = try #require(report["workers"]?.arrayValue)
            #expect(workers.compactMap { $0["subscribed"]?.intValue }.sorted() == [10, 11])
            let acked = try #require(report["posts"]?["acked"]?.intValue)
            #expect(acked > 0)
            let perWorker = workers.compactMap { $0["deliveries"]?.intValue }
            #expect(perWorker.allSatisfy { $0 > 0 })
            #expect(report["deliveries"]?.intValue == perWorker.reduce(0, +))
            #expect(report["latency_us"]?["publish_to_deliver"]?["count"]?.intValue == 21 * acked)
            let svg = try String(contentsOfFile: plot, encoding: .utf8)
            #expect(svg.hasPrefix("<svg"))
            #expect(svg.contains("publish→deliver"))
            #expect(XMLParser(data: Data(svg.utf8)).parse())
        }
    }

    /// Two nodes, connections spread over both ports; one node drains mid-run: its subscribers and
    /// publishers reconnect to the other and nothing is lost, duplicated or reordered.
    @Test func reconnectingClientsSurviveADrainWithNothingLost() async throws {
        try await withLiveNode(nodes: 2) { live in
            try await waitForPeers(live)
            let run = Task {
                try await TsunaguExecutable.run(
                    ["--ports", "\(live.ports[0]),\(live.ports[1])", "--token=\(live.ownerToken)",
                     "--timeline", live.timeline.rawValue, "--connections", "20", "--publishers", "2",
                     "--rate", "40", "--duration", "7", "--grace", "5", "--reconnect", "--json", "--quiet"],
                    executable: "tsunagu-load", separateStandardError: true)
            }
            try await Task.sleep(for: .seconds(3))
            await live.nodes[1].drain()
            let result = try await run.value
            #expect(result.status == 0)
            let report = try JSONValue.parse(result.output)
            #expect(report["config"]?["ports"]?.arrayValue?.count == 2)
            #expect(report["passed"]?.boolValue == true, "\(report["loss_check"] ?? .null) \(report["errors"] ?? .null)")
            #expect(report["loss_check"]?["passed"]?.boolValue == true)
            let losses = try #require(report["reconnect"]?["losses"]?.intValue)
            #expect(losses > 0)
            #expect(report["reconnect"]?["reconnects"]?.intValue == losses)
            #expect(report["reconnect"]?["not_recovered"]?.intValue == 0)
            #expect(report["reconnect"]?["recovery_s"]?.doubleValue != nil)
            #expect(report["latency_us"]?["reconnect"]?["count"]?.intValue == losses)
        }
    }

    @Test func badFlagsExitTwoWithOneLine() async throws {
        let result = try await TsunaguExecutable.run(["--host", "10.1.2.3", "--token", "x", "--timeline", "tl_x"],
                                               executable: "tsunagu-load")
        #expect(result.status == 2)
        #expect(result.output.contains("--host"))
    }

    @Test(arguments: [
        (["--ports", "9300-9200"], "--ports"),
        (["--ports", "9200,x"], "--ports"),
        (["--ports", "9200", "--port", "9201"], "--port"),
        (["--window", "8", "--rate", "50"], "--window"),
        (["--window", "0"], "--window"),
        (["--processes", "0"], "--processes"),
        (["--processes", "4", "--connections", "2"], "--processes"),
        (["--plot", "chart.png"], "--plot"),
    ])
    func badNewFlagsExitTwoNamingTheFlag(extra: [String], flag: String) async throws {
        let result = try await TsunaguExecutable.run(["--token", "x", "--timeline", "tl_x"] + extra,
                                                     executable: "tsunagu-load")
        #expect(result.status == 2)
        #expect(result.output.contains(flag))
        #expect(result.output.split(separator: "\n").count == 1)
    }

    private func waitForPeers(_ live: LiveNode) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while live.nodes.contains(where: { $0.peerLinkCount < live.nodes.count - 1 }) {
            guard ContinuousClock.now < deadline else { throw TestFailure("peer links did not come up") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
