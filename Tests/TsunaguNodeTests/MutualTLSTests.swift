import Foundation
import Testing
import TsunaguNode
import TsunaguClient
import TsunaguCore
import TsunaguStore

/// The client-certificate second factor, with certificates made by `cluster/make-test-certs.sh`
/// and requests made by curl over real TLS.
@Suite struct MutualTLSTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("cluster/make-test-certs.sh").path

    @Test func anOrganizationThatRequiresCertificatesAcceptsOnlyARegisteredOne() async throws {
        let certs = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-certs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: certs) }
        let made = try await Tool.run("/bin/bash", [Self.script, certs])
        try #require(made.status == 0, "\(made.output)")
        try await withLiveNode({
            $0.tls = try! NodeTLS.load(certificate: certs + "/server.pem", key: certs + "/server.key",
                                       clientCA: certs + "/ca.pem")
        }) { live in
            let base = "https://127.0.0.1:\(live.port)"
            let login = #"{"email":"nurse@sakura.test","password":"\#(LiveNode.password)"}"#
            func curl(_ args: [String], cert: String? = nil) async throws -> (status: Int32, output: String) {
                var all = ["-sk", "--max-time", "5", "-w", "\n%{http_code}"]
                if let cert { all += ["--cert", "\(certs)/\(cert).pem", "--key", "\(certs)/\(cert).key"] }
                return try await Tool.run("/usr/bin/curl", all + args)
            }
            func httpCode(_ result: (status: Int32, output: String)) -> String {
                String(result.output.split(separator: "\n").last ?? "")
            }
            // no policy yet: a password is enough, with or without a certificate
            #expect(httpCode(try await curl(["-XPOST", "\(base)/v1/sessions", "-d", login])) == "201")
            // the nurse registers the certificate she presents
            let register = try await curl(["-XPOST", "-H", "Authorization: Bearer \(live.nurseToken)",
                                           "\(base)/v1/me/certificates", "-d", #"{"password":"\#(LiveNode.password)"}"#],
                                          cert: "alice")
            #expect(httpCode(register) == "201", "\(register.output)")
            // an admin turns the requirement on
            let admin = try live.store.createUser(organization: live.nurse.organization, email: "admin@sakura.test",
                                                  name: "Admin", passwordHash: nil, role: .admin)
            let adminToken = try await live.store.createSession(user: admin, lifetimeSeconds: 600).token
            let policy = try await curl(["-XPATCH", "-H", "Authorization: Bearer \(adminToken)",
                                         "\(base)/v1/admin/organization", "-d", #"{"require_client_certificate":true}"#])
            #expect(httpCode(policy) == "200")

            let none = try await curl(["-XPOST", "\(base)/v1/sessions", "-d", login])
            #expect(httpCode(none) == "401")
            #expect(none.output.contains("client_certificate_required"))
            let unregistered = try await curl(["-XPOST", "\(base)/v1/sessions", "-d", login], cert: "bob")
            #expect(httpCode(unregistered) == "401")
            #expect(unregistered.output.contains("client_certificate_required"))
            let otherCA = try await curl(["-XPOST", "\(base)/v1/sessions", "-d", login], cert: "mallory")
            #expect(otherCA.status != 0 || httpCode(otherCA) == "000", "a certificate from another CA must fail the handshake")
            #expect(!otherCA.output.contains("token"))
            let registered = try await curl(["-XPOST", "\(base)/v1/sessions", "-d", login], cert: "alice")
            #expect(httpCode(registered) == "201")
            #expect(registered.output.contains("\"token\""))
            // WebSocket auth over TLS with the session's token needs the certificate it logged in
            // with (Python's websockets as the client)
            let token = try #require(Self.field("token", of: registered.output))
            for (cert, expected) in [("alice", "\"ok\""), ("bob", "\"certificate_required\""), (nil, "\"certificate_required\"")] {
                let reply = try await Self.webSocketAuth(port: live.port, token: token, certs: certs, cert: cert)
                #expect(reply.contains(expected), "\(cert ?? "no certificate"): \(reply)")
            }
            // the pharmacy (no requirement) is unaffected
            let pharmacist = try await curl(["-XPOST", "\(base)/v1/sessions", "-d",
                                             #"{"email":"pharm@kita.test","password":"\#(LiveNode.password)"}"#])
            #expect(httpCode(pharmacist) == "201")
        }
    }

    /// A string field of the JSON body curl printed (before its status line).
    static func field(_ name: String, of output: String) -> String? {
        let body = output.split(separator: "\n").dropLast().joined(separator: "\n")
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return object?[name] as? String
    }

    /// Connects with `wss://`, optionally presenting a client certificate, sends `auth`, returns the reply.
    static func webSocketAuth(port: Int, token: String, certs: String, cert: String?) async throws -> String {
        let script = """
            import asyncio, json, ssl, sys, websockets
            async def main():
                ctx = ssl.create_default_context(cafile=sys.argv[2] + "/ca.pem")
                if sys.argv[4] != "-":
                    ctx.load_cert_chain(sys.argv[2] + "/" + sys.argv[4] + ".pem", sys.argv[2] + "/" + sys.argv[4] + ".key")
                async with websockets.connect("wss://127.0.0.1:" + sys.argv[1] + "/v1/ws", ssl=ctx) as ws:
                    await ws.send(json.dumps({"type": "auth", "id": 1, "token": sys.argv[3]}))
                    print(await asyncio.wait_for(ws.recv(), 5))
            asyncio.run(main())
            """
        let result = try await Tool.run("/usr/bin/env", ["python3", "-c", script, String(port), certs, token, cert ?? "-"])
        guard result.status == 0 else { throw TestFailure("websocket client failed (pip install websockets?): \(result.output)") }
        return result.output
    }
}
