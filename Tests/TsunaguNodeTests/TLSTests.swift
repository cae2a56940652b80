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
