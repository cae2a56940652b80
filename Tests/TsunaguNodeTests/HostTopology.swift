import Foundation
import Testing

/// Separate "hosts" on one machine for the multi-host cluster test: network namespaces made by
/// `cluster/netns.sh` (one per host, veths to a bridge, addresses in 10.77.0.0/24; clients stay in
/// the root namespace), or, where this machine allows none, the same topology on distinct
/// 127.0.0.x addresses — said aloud, never silently.
struct HostTopology: Sendable {
    enum Mode: Sendable, Equatable {
        case namespaces
        /// Why namespaces could not be used.
        case loopback(String)
    }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("cluster/netns.sh").path
    static let bridge = "10.77.0.1/24"

    let mode: Mode
    /// Host name → its address.
    let addresses: [String: String]

    /// Makes the hosts (removing leftovers of an earlier run first). `TSUNAGU_TEST_NETNS=off`
    /// forces the loopback fallback, to try it on a machine that has namespaces.
    static func make(hosts: [(name: String, lastOctet: Int)]) async throws -> HostTopology {
        let namespaced = Dictionary(uniqueKeysWithValues: hosts.map { ($0.name, "10.77.0.\($0.lastOctet)") })
        let loopback = Dictionary(uniqueKeysWithValues: hosts.map { ($0.name, "127.0.0.\($0.lastOctet)") })
        if ProcessInfo.processInfo.environment["TSUNAGU_TEST_NETNS"] == "off" {
            return HostTopology(mode: .loopback("TSUNAGU_TEST_NETNS=off"), addresses: loopback)
        }
        let created = try await Tool.run("/bin/bash", [script, "create", bridge] + hosts.map { "\($0.name)=10.77.0.\($0.lastOctet)" })
        if created.status == 0 { return HostTopology(mode: .namespaces, addresses: namespaced) }
        let reason = created.output.split(separator: "\n").last.map(String.init) ?? "exit \(created.status)"
        try #require(created.status == 3, "netns.sh create failed: \(created.output)")
        return HostTopology(mode: .loopback(reason), addresses: loopback)
    }

    func address(_ host: String) -> String { addresses[host]! }

    /// The executable and arguments that run `tsunagu ARGUMENTS` on `host`.
    func command(on host: String, _ arguments: [String]) -> (executable: URL, arguments: [String]) {
        switch mode {
        case .namespaces:
            (URL(fileURLWithPath: "/bin/bash"), [Self.script, "exec", host, TsunaguExecutable.url.path] + arguments)
        case .loopback:
            (TsunaguExecutable.url, arguments)
        }
    }

    /// Runs a shell command on `host` (in its namespace); its exit status.
    func shell(on host: String, _ command: String) async throws -> Int32 {
        switch mode {
        case .namespaces: try await Tool.run("/bin/bash", [Self.script, "exec", host, "/bin/bash", "-c", command]).status
        case .loopback: try await Tool.run("/bin/bash", ["-c", command]).status
        }
    }

    /// Whether a TCP connection from `host` to ADDRESS:PORT gets an answer (a refusal counts:
    /// the packets got through).
    func reaches(from host: String, _ address: String, port: Int) async throws -> Bool {
        let probe = "out=$(timeout 2 bash -c 'echo > /dev/tcp/\(address)/\(port)' 2>&1) && exit 0; "
            + "echo \"$out\" | grep -q refused && exit 0; exit 7"
        let status = try await shell(on: host, probe)
        return status == 0
    }

    /// Drops packets between `host` and the addresses, both ways (blackhole routes).
    func partition(_ host: String, from addresses: [String]) async throws {
        let done = try await Tool.run("/bin/bash", [Self.script, "partition", host] + addresses)
        try #require(done.status == 0, "\(done.output)")
    }

    /// Lets the packets between `host` and the addresses through again.
    func heal(_ host: String, from addresses: [String]) async throws {
        let done = try await Tool.run("/bin/bash", [Self.script, "heal", host] + addresses)
        try #require(done.status == 0, "\(done.output)")
    }

    /// Removes every namespace and the bridge, killing what runs in them. Synchronous: it also
    /// runs from `defer`, when the test fails.
    func destroy() {
        guard mode == .namespaces else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script, "destroy"]
        try? process.run()
        process.waitUntilExit()
    }
}
