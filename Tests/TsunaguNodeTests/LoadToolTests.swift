import Foundation
import Testing
import TsunaguClient

/// `tsunagu-load` against a live node for a few seconds: its loss check passes and its JSON report
/// parses. No timing is asserted (benchmarks live in docs/benchmarks.md).
@Suite struct LoadToolTests {
    @Test func aShortLoadRunFindsNothingLost() async throws {
        try await withLiveNode { live in
            let result = try await TsunaguExecutable.run(
                ["--port", String(live.port), "--token", live.ownerToken, "--timeline", live.timeline.rawValue,
                 "--connections", "30", "--publishers", "2", "--rate", "40", "--duration", "2", "--grace", "5",
                 "--json", "--quiet"],
                executable: "tsunagu-load", separateStandardError: true)
            #expect(result.status == 0)
            let report = try JSONValue.parse(result.output)
            #expect(report["passed"]?.boolValue == true)
            #expect(report["loss_check"]?["passed"]?.boolValue == true)
            #expect(report["loss_check"]?["missing"]?.intValue == 0)
            #expect((report["posts"]?["acked"]?.intValue ?? 0) > 0)
            #expect((report["deliveries"]?.intValue ?? 0) >= 30 * (report["posts"]?["acked"]?.intValue ?? 1))
        }
    }

    @Test func badFlagsExitTwoWithOneLine() async throws {
        let result = try await TsunaguExecutable.run(["--host", "10.1.2.3", "--token", "x", "--timeline", "tl_x"],
                                               executable: "tsunagu-load")
        #expect(result.status == 2)
        #expect(result.output.contains("--host"))
    }
}
