import Foundation
import Testing
import TsunaguNode

/// TLS on the node's one listener: the JSON API answers over HTTPS with a certificate made here by
/// `openssl` (the same pipeline carries `/v1/ws`).
@Suite struct TLSTests {
    @Test func theAPIAnswersOverTLS() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificate = directory + "/node.pem", key = directory + "/node.key"
        let made = try await Tool.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                     "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
                                                     "-subj", "/CN=127.0.0.1"])
        try #require(made.status == 0, "openssl failed: \(made.output)")
        try await withLiveNode({ $0.tls = try! NodeTLS.load(certificate: certificate, key: key, clientCA: nil) }) { live in
            let https = try await Tool.run("/usr/bin/curl", ["-sk", "https://127.0.0.1:\(live.port)/healthz"])
            #expect(https.status == 0)
            #expect(https.output.contains("\"status\":\"ok\""))
            let me = try await Tool.run("/usr/bin/curl", ["-sk", "-H", "Authorization: Bearer \(live.nurseToken)",
                                                          "https://127.0.0.1:\(live.port)/v1/me"])
            #expect(me.output.contains("Sato Hanako"))
            // plaintext on the TLS port: health only (for balancers), never the API
            let health = try await Tool.run("/usr/bin/curl", ["-s", "--max-time", "3", "http://127.0.0.1:\(live.port)/readyz"])
            #expect(health.output.contains("\"status\":\"ready\""))
            let api = try await Tool.run("/usr/bin/curl", ["-s", "--max-time", "3", "-H", "Authorization: Bearer \(live.nurseToken)",
                                                           "http://127.0.0.1:\(live.port)/v1/me"])
            #expect(!api.output.contains("Sato Hanako"))
            #expect(api.output.contains("not_found"))
        }
    }
}

extension TLSTests {
    /// TLS 1.2 is the minimum: a client that offers at most TLS 1.1 is refused, one that offers
    /// 1.2 is served. The client is Python's `ssl` with OpenSSL's security level lowered, so that
    /// the refusal is the node's and not the client library's own.
    @Test func aTLS11ClientIsRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-tls11-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificate = directory + "/node.pem", key = directory + "/node.key"
        let made = try await Tool.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                                                           "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1"])
        try #require(made.status == 0, "openssl failed: \(made.output)")
        let script = """
            import socket, ssl, sys, warnings
            warnings.simplefilter("ignore")
            version = {"1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2}[sys.argv[2]]
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = version
            try:
                with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as raw:
                    with context.wrap_socket(raw) as tls:
                        print("negotiated", tls.version())
            except ssl.SSLError as error:
                print("refused", error.reason)
            """
        try await withLiveNode({ $0.tls = try! NodeTLS.load(certificate: certificate, key: key, clientCA: nil) }) { live in
            let old = try await Tool.run("/usr/bin/env", ["python3", "-c", script, String(live.port), "1.1"])
            #expect(old.output.hasPrefix("refused"), "\(old.output)")
            let current = try await Tool.run("/usr/bin/env", ["python3", "-c", script, String(live.port), "1.2"])
            #expect(current.output.hasPrefix("negotiated TLSv1.2"), "\(current.output)")
        }
    }
}

enum Tool {
    static func run(_ path: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await offPool { try runBlocking(path, arguments) }
    }

    private static func runBlocking(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
