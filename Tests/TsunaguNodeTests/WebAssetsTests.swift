import Foundation
import Testing
import TsunaguClient
import TsunaguCore

/// The web client as every node serves it (docs/web-client.md): `/` and `/activate`, hashed
/// assets cached for a year, gzip, a strict Content-Security-Policy, a first load under 150 KB.
@Suite struct WebAssetsTests {
    /// `src="/assets/…"` and `href="/assets/…"` of a page.
    private func assetPaths(_ page: String) -> [String] {
        page.components(separatedBy: "\"/assets/").dropFirst().compactMap { $0.split(separator: "\"").first.map { "/assets/" + $0 } }
    }

    @Test func theIndexIsNeverCachedAndCarriesAStrictPolicy() async throws {
        try await withLiveNode { live in
            for path in ["/", "/activate"] {
                let page = try await live.http.send("GET", path, headers: [("Accept", "text/html")])
                #expect(page.status == 200)
                #expect(page.header("Content-Type") == "text/html; charset=utf-8")
                #expect(page.header("Cache-Control") == "no-cache")
                let policy = try #require(page.header("Content-Security-Policy"))
                #expect(policy.contains("default-src 'self'") && policy.contains("script-src 'self'")
                        && policy.contains("style-src 'self'") && policy.contains("connect-src 'self' ws: wss:"))
                #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
                #expect(page.header("X-Content-Type-Options") == "nosniff")
                #expect(page.text.contains("<html lang=\"ja\">"))
                // no inline script or style: every <script> has a src, no style attributes
                #expect(!page.text.contains("<script>") && !page.text.contains("style="))
            }
            let api = try await live.http.send("GET", "/v1/me")
            #expect(api.header("Cache-Control") == "no-store", "the API stays uncached")
            #expect(api.header("Content-Security-Policy") == nil)
        }
    }

    @Test func assetsHaveContentHashedNamesAYearOfCacheAndGzip() async throws {
        try await withLiveNode { live in
            let page = try await live.http.send("GET", "/")
            let paths = assetPaths(page.text)
            #expect(paths.contains { $0.hasSuffix(".js") } && paths.contains { $0.hasSuffix(".css") })
            for path in paths {
                // app.0123456789.js: ten hex digits of SHA-256 before the extension
                let parts = path.split(separator: "/").last!.split(separator: ".")
                #expect(parts.count == 3 && parts[1].count == 10 && parts[1].allSatisfy(\.isHexDigit), "\(path)")
                let plain = try await live.http.send("GET", path)
                #expect(plain.status == 200)
                #expect(plain.header("Cache-Control") == "public, max-age=31536000, immutable")
                #expect(plain.header("Content-Encoding") == nil)
                let zipped = try await live.http.send("GET", path, headers: [("Accept-Encoding", "gzip, deflate, br")])
                #expect(zipped.header("Content-Encoding") == "gzip")
                #expect(zipped.header("Vary") == "Accept-Encoding")
                #expect(zipped.body.count < plain.body.count)
                #expect(Array(zipped.body.prefix(2)) == [0x1f, 0x8b], "RFC 1952 magic")
                let refused = try await live.http.send("GET", path, headers: [("Accept-Encoding", "gzip;q=0")])
                #expect(refused.header("Content-Encoding") == nil)
            }
            // modules import each other by hashed name too: nothing unhashed is ever requested
            let app = try #require(paths.first { $0.contains("/app.") })
            let source = try await live.http.send("GET", app).text
            #expect(source.contains("from './dom.") && !source.contains("from './dom.js'"))
            let missing = try await live.http.send("GET", "/assets/app.js")
            #expect(missing.status == 404)
        }
    }

    /// Everything the first visit fetches (the page and the module graph), gzip-compressed as a
    /// browser asks for it, stays under 150 KB.
    @Test func theFirstLoadTransfersUnder150KB() async throws {
        try await withLiveNode { live in
            let gzip = [("Accept-Encoding", "gzip")]
            let page = try await live.http.send("GET", "/", headers: gzip)
            var total = page.body.count
            var queue = assetPaths(String(decoding: try await gunzipped(page), as: UTF8.self))
            var seen = Set<String>()
            while let path = queue.popLast() {
                guard seen.insert(path).inserted else { continue }
                let reply = try await live.http.send("GET", path, headers: gzip)
                #expect(reply.status == 200, "\(path)")
                total += reply.body.count
                let text = String(decoding: try await gunzipped(reply), as: UTF8.self)
                for part in text.components(separatedBy: "from './").dropFirst() {
                    if let name = part.split(separator: "'").first { queue.append("/assets/" + name) }
                }
            }
            #expect(seen.count >= 8, "the page, its stylesheet and the modules")
            #expect(total < 150_000, "first load \(total) bytes")
        }
    }

    /// The body, decompressed by the system's gzip when it says it is compressed (off the
    /// cooperative pool: waiting for a process must not stall other tests' tasks).
    private func gunzipped(_ reply: HTTPReply) async throws -> [UInt8] {
        guard reply.header("Content-Encoding") == "gzip" else { return reply.body }
        return try await offPool { try Self.gunzip(reply.body) }
    }

    private static func gunzip(_ body: [UInt8]) throws -> [UInt8] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-\(UUID().uuidString).gz")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(body).write(to: file)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", file.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return [UInt8](data)
    }
}
