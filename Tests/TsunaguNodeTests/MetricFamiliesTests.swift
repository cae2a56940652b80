import Foundation
import Testing
import TsunaguClient
import TsunaguCore
@testable import TsunaguNode

/// After a short live run every metric family of docs/operations.md ("What to watch") is in
/// `/metrics` on the admin listener, and the histograms counted what happened.
@Suite struct MetricFamiliesTests {
    static let families = [
        "tsunagu_commit_seconds", "tsunagu_publish_deliver_seconds", "tsunagu_handshake_auth_seconds",
        "tsunagu_repair_read_seconds", "tsunagu_slow_consumer_closes_total", "tsunagu_refused_connections_total",
        "tsunagu_throttled_logins_total", "tsunagu_build_info", "process_resident_memory_bytes", "process_open_fds",
        "tsunagu_event_loop_lag_seconds", "tsunagu_monitor_alerts_total", "tsunagu_events_committed_total",
        "tsunagu_websocket_connections", "tsunagu_subscriptions",
    ]

    @Test func everyFamilyIsPresentAfterAShortRun() async throws {
        try await withLiveNode { live in
            let owner = try await live.session(live.ownerToken)
            _ = try await owner.subscribe(live.timeline)
            let nurse = try await live.session(live.nurseToken)
            for index in 0..<3 { _ = try await nurse.post(live.timeline, "vitals \(index)") }
            for _ in 0..<3 { _ = try await owner.nextEvent() }
            // A resume from the start reads the backlog from the store.
            let family = try await live.session(live.familyToken)
            _ = try await family.subscribe(live.timeline, since: 0)
            _ = try await family.nextEvent()
            // A lock-out refusal.
            for _ in 0..<6 {
                _ = try await live.http.send("POST", "/v1/sessions",
                                             json: ["email": "nobody@sakura.test", "password": "wrong password!"])
            }
            try await Task.sleep(for: .milliseconds(1200))  // one round of the event-loop probe

            let admin = TsunaguHTTPClient(host: "127.0.0.1", port: try #require(live.node.adminPort), group: live.group)
            let text = try await admin.send("GET", "/metrics").text
            for family in Self.families {
                #expect(text.contains("# TYPE \(family) "), "\(family)")
            }
            #expect(Self.value("tsunagu_commit_seconds_count", in: text) == 3)
            #expect((Self.value("tsunagu_publish_deliver_seconds_count", in: text) ?? 0) >= 3)
            #expect(Self.value("tsunagu_handshake_auth_seconds_count", in: text) == 3)
            #expect((Self.value("tsunagu_repair_read_seconds_count", in: text) ?? 0) >= 1)
            #expect((Self.value("tsunagu_throttled_logins_total", in: text) ?? 0) >= 1)
            #expect((Self.value("process_resident_memory_bytes", in: text) ?? 0) > 1_000_000)
            #expect((Self.value("process_open_fds", in: text) ?? 0) > 5)
            #expect(text.contains(#"tsunagu_build_info{version="\#(BuildInfo.version)""#))
            #expect(text.contains(#"tsunagu_refused_connections_total{reason="untrusted_proxy"} 0"#))
        }
    }

    @Test func refusedConnectionsAreCountedByReason() async throws {
        try await withLiveNode({
            $0.trustedProxies = [CIDR("10.0.0.0/8")!]
            $0.authTimeout = .milliseconds(300)
        }) { live in
            let spoof = ProxyHeader.Address(bytes: [192, 0, 2, 1], port: 5)
            let header = ProxyHeader(command: .proxy, source: spoof,
                                     destination: ProxyHeader.Address(bytes: [127, 0, 0, 1], port: 443)).encoded()
            let refused = try await RawHTTP.login(port: live.port, header: header, email: "nurse@sakura.test",
                                                  password: LiveNode.password)
            #expect(refused.status == 0)
            let silent = try await live.connect()
            #expect(try await silent.waitForClose() == 4001)
            let admin = TsunaguHTTPClient(host: "127.0.0.1", port: try #require(live.node.adminPort), group: live.group)
            let text = try await admin.send("GET", "/metrics").text
            #expect(text.contains(#"tsunagu_refused_connections_total{reason="untrusted_proxy"} 1"#))
            #expect(text.contains(#"tsunagu_refused_connections_total{reason="authentication"} 1"#))
        }
    }

    /// The Grafana dashboard (cluster/grafana/) charts only families a node exports.
    @Test func theDashboardChartsOnlyExportedFamilies() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let dashboard = try String(contentsOf: root.appendingPathComponent("cluster/grafana/tsunagu-nodes.json"), encoding: .utf8)
        let names = Set(dashboard.matches(of: /(tsunagu|process)_[a-z_]+/).map { match -> String in
            var name = String(match.output.0)
            for suffix in ["_bucket", "_count", "_sum"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
            return name
        }).subtracting(["tsunagu_nodes"])  // the dashboard's uid
        #expect(names.count >= 15)
        try await withLiveNode { live in
            let admin = TsunaguHTTPClient(host: "127.0.0.1", port: try #require(live.node.adminPort), group: live.group)
            _ = try await live.session(live.ownerToken).post(live.timeline, "one")
            _ = try await live.http.send("POST", "/v1/sessions", json: ["email": "x@sakura.test", "password": "wrong password!"])
            let text = try await admin.send("GET", "/metrics").text
            for name in names.sorted() { #expect(text.contains("# TYPE \(name) "), "\(name)") }
        }
    }

    /// The sample `name value` (no labels).
    static func value(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ")[1])
        }
        return nil
    }
}
