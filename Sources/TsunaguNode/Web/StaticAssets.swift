import CZlib
import Foundation
import TsunaguCrypto

/// The web client's files (docs/web-client.md), read once when the node starts and held in
/// memory: every asset under a content-hashed name (`app.3f9c0a1b2c.js`), so browsers may cache
/// it for a year, and gzip-compressed beside the original. No build step: the hashing, the
/// rewriting of module imports to hashed names and the compression happen here, at start-up.
struct StaticAssets: Sendable {
    /// One servable file.
    struct Asset: Sendable {
        var contentType: String
        var body: [UInt8]
        /// The gzip form, when it is smaller.
        var gzipped: [UInt8]?
    }

    /// `index.html`, with the hashed names of what it loads.
    let index: Asset
    /// By hashed file name, e.g. "app.3f9c0a1b2c.js".
    let hashed: [String: Asset]

    /// The files in the resource bundle next to the executable (SwiftPM's
    /// `tsunagu_TsunaguNode.resources`), else in this source tree (a development checkout). Nil
    /// when neither is there: the node then serves the API only and says so at `/`.
    static func load() -> StaticAssets? {
        guard let directory = assetDirectory() else { return nil }
        return try? StaticAssets(directory: directory)
    }

    static func assetDirectory() -> URL? {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() {
            candidates.append(executable.appendingPathComponent("tsunagu_TsunaguNode.resources/Assets"))
        }
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Assets"))
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("index.html").path) }
    }

    init(directory: URL) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }.sorted()
        var sources: [String: [UInt8]] = [:]
        for name in names {
            sources[name] = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
        }
        // Hash in dependency order: a module's name covers the hashed names of what it imports,
        // so a change anywhere renames everything that leads to it (no stale module in a cache).
        var hashedName: [String: String] = [:]
        var hashed: [String: Asset] = [:]
        func resolve(_ name: String, _ visiting: Set<String>) throws {
            guard hashedName[name] == nil, let source = sources[name] else { return }
            // A cycle could not be named by content: the first file would need its own hash.
            guard !visiting.contains(name) else { throw AssetError.importCycle(name) }
            var text = String(decoding: source, as: UTF8.self)
            if name.hasSuffix(".js") || name.hasSuffix(".css") {
                for dependency in sources.keys where dependency != name && dependency != "index.html"
                    && text.contains("./\(dependency)") {
                    try resolve(dependency, visiting.union([name]))
                    if let renamed = hashedName[dependency] {
                        text = text.replacingOccurrences(of: "./\(dependency)\"", with: "./\(renamed)\"")
                            .replacingOccurrences(of: "./\(dependency)'", with: "./\(renamed)'")
                    }
                }
            }
            let body = Array(text.utf8)
            let digest = ByteEncoding.hex(Digest.sha256(body)).prefix(10)
            let dot = name.lastIndex(of: ".") ?? name.endIndex
            let renamed = "\(name[..<dot]).\(digest)\(name[dot...])"
            hashedName[name] = renamed
            hashed[renamed] = Asset(contentType: Self.contentType(name), body: body, gzipped: Self.gzip(body))
        }
        for name in names where name != "index.html" { try resolve(name, []) }
        guard var page = sources["index.html"].map({ String(decoding: $0, as: UTF8.self) }) else {
            throw CocoaError(.fileNoSuchFile)
        }
        for (name, renamed) in hashedName {
            page = page.replacingOccurrences(of: "\"/assets/\(name)\"", with: "\"/assets/\(renamed)\"")
        }
        let body = Array(page.utf8)
        index = Asset(contentType: "text/html", body: body, gzipped: Self.gzip(body))
        self.hashed = hashed
    }

    enum AssetError: Error { case importCycle(String) }

    static func contentType(_ name: String) -> String {
        switch name.split(separator: ".").last {
        case "js": "text/javascript"
        case "css": "text/css"
        case "html": "text/html"
        case "svg": "image/svg+xml"
        case "json", "webmanifest": "application/json"
        case "png": "image/png"
        default: "application/octet-stream"
        }
    }

    /// RFC 1952 gzip of `bytes` (zlib's deflate with a gzip wrapper: windowBits 15 + 16), or nil
    /// when it would not be smaller.
    static func gzip(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard czlib_deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK else {
            return nil
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 32)
        var input = bytes
        let result: Int32 = input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                stream.next_in = inputBuffer.baseAddress
                stream.avail_in = uInt(inputBuffer.count)
                stream.next_out = outputBuffer.baseAddress
                stream.avail_out = uInt(outputBuffer.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard result == Z_STREAM_END else { return nil }
        let produced = Int(stream.total_out)
        guard produced < bytes.count else { return nil }
        return Array(output[..<produced])
    }
}
