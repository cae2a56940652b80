import Foundation
import Testing
@testable import TsunaguNode

/// Hashed names, import rewriting and content negotiation of the web client's files, on a
/// directory the test writes (no server).
@Suite struct StaticAssetsTests {
    private func directory(_ files: [String: String]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tsunagu-assets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: url.appendingPathComponent(name)) }
        return url
    }

    private let page = #"<html lang="ja"><link rel="stylesheet" href="/assets/s.css"><script type="module" src="/assets/a.js"></script></html>"#

    @Test func aChangeInAnImportedModuleRenamesItsImporters() throws {
        let one = try directory(["index.html": page, "s.css": "p{}", "a.js": "import { x } from './b.js';", "b.js": "export const x = 1;"])
        let two = try directory(["index.html": page, "s.css": "p{}", "a.js": "import { x } from './b.js';", "b.js": "export const x = 2;"])
        defer { try? FileManager.default.removeItem(at: one); try? FileManager.default.removeItem(at: two) }
        let first = try StaticAssets(directory: one), second = try StaticAssets(directory: two)
        let name = { (assets: StaticAssets, prefix: String) in assets.hashed.keys.first { $0.hasPrefix(prefix + ".") }! }
        #expect(name(first, "s") == name(second, "s"), "unchanged files keep their names")
        #expect(name(first, "b") != name(second, "b"))
        #expect(name(first, "a") != name(second, "a"), "a.js imports b.js: its name covers b's")
        let a = String(decoding: first.hashed[name(first, "a")]!.body, as: UTF8.self)
        #expect(a == "import { x } from './\(name(first, "b"))';")
        let index = String(decoding: first.index.body, as: UTF8.self)
        #expect(index.contains("\"/assets/\(name(first, "a"))\"") && index.contains("\"/assets/\(name(first, "s"))\""))
    }

    @Test func anImportCycleIsRefused() throws {
        let cyclic = try directory(["index.html": page, "a.js": "import './b.js';", "b.js": "import './a.js';"])
        defer { try? FileManager.default.removeItem(at: cyclic) }
        #expect(throws: StaticAssets.AssetError.self) { _ = try StaticAssets(directory: cyclic) }
    }

    @Test func gzipIsUsedWhereTheClientAcceptsItAndItHelps() {
        #expect(WebRoutes.acceptsGzip(["gzip, deflate, br"]))
        #expect(WebRoutes.acceptsGzip(["br;q=1.0, gzip;q=0.8"]))
        #expect(WebRoutes.acceptsGzip(["*"]))
        #expect(!WebRoutes.acceptsGzip(["gzip;q=0"]))
        #expect(!WebRoutes.acceptsGzip(["identity"]))
        #expect(!WebRoutes.acceptsGzip([]))
        let text = Array(String(repeating: "既読 3 · 医師 1 · 看護師 2\n", count: 50).utf8)
        let zipped = try! #require(StaticAssets.gzip(text))
        #expect(zipped.count < text.count / 4)
        #expect(StaticAssets.gzip(Array("x".utf8)) == nil, "not smaller: sent as it is")
    }

    @Test func theShippedClientLoadsWithoutACycle() throws {
        let assets = try #require(StaticAssets.load())
        #expect(assets.hashed.count >= 10)
        #expect(assets.hashed.values.allSatisfy { $0.gzipped != nil })
    }
}
