import Foundation
import Testing
import TsunaguBalancer

@Suite struct ExternalBalancerConfigTests {
    let backends = [
        Backend(id: "node-b", host: "10.0.0.2", port: 8443),
        Backend(id: "node-a", host: "10.0.0.1", port: 8443),
        Backend(id: "node/v6", host: "fd00::3", port: 8443),
    ]

    @Test func haproxyIsTcpRoundRobinWithReadyzChecks() {
        let config = ExternalBalancerConfig.haproxy(listen: "0.0.0.0:443", backends: backends)
        let lines = config.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains("mode tcp"))
        #expect(lines.contains("bind 0.0.0.0:443"))
        #expect(lines.contains("balance roundrobin"))
        #expect(lines.contains("option httpchk GET /readyz"))
        #expect(lines.contains("http-check expect status 200"))
        #expect(lines.contains("server node-a 10.0.0.1:8443 check send-proxy-v2"))
        #expect(lines.contains("server node-b 10.0.0.2:8443 check send-proxy-v2"))
        // A slash is not allowed in an HAProxy server name; an IPv6 address goes in brackets.
        #expect(lines.contains("server node_v6 [fd00::3]:8443 check send-proxy-v2"))
        // Ordered by id, like the built-in rotation.
        let servers = lines.filter { $0.hasPrefix("server ") }
        #expect(servers.first == "server node-a 10.0.0.1:8443 check send-proxy-v2")
        // Never terminates TLS.
        #expect(!config.contains("ssl crt"))
        #expect(!config.contains("mode http"))
    }

    @Test func nginxIsAStreamUpstreamWithPassiveChecks() {
        let config = ExternalBalancerConfig.nginx(listen: "[::]:443", backends: backends)
        let lines = config.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.first(where: { !$0.hasPrefix("#") }) == "stream {")
        #expect(lines.contains("upstream tsunagu_nodes {"))
        #expect(lines.contains("listen [::]:443;"))
        #expect(lines.contains("proxy_pass tsunagu_nodes;"))
        #expect(lines.contains("proxy_next_upstream on;"))
        #expect(lines.contains { $0.hasPrefix("server 10.0.0.1:8443 max_fails=1 fail_timeout=2s;") })
        #expect(lines.contains { $0.hasPrefix("server 10.0.0.2:8443 max_fails=1 fail_timeout=2s;") })
        #expect(lines.contains { $0.hasPrefix("server [fd00::3]:8443 max_fails=1 fail_timeout=2s;") })
        // The open-source stream module has no active checks, nor any http-level directive.
        let directives = lines.filter { !$0.hasPrefix("#") }
        #expect(!directives.contains { $0.hasPrefix("health_check") })
        #expect(!directives.contains { $0.hasPrefix("http ") })
        #expect(!directives.contains { $0.hasPrefix("ssl_") })
        // Braces balance.
        #expect(config.filter { $0 == "{" }.count == config.filter { $0 == "}" }.count)
    }

    @Test func emptyBackendListKeepsTheSections() {
        let haproxy = ExternalBalancerConfig.haproxy(listen: "127.0.0.1:8000", backends: [])
        #expect(haproxy.contains("backend tsunagu_nodes"))
        #expect(!haproxy.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("server ") })
        let nginx = ExternalBalancerConfig.nginx(listen: "127.0.0.1:8000", backends: [])
        #expect(nginx.contains("upstream tsunagu_nodes {"))
    }
}
