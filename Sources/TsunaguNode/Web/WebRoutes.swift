import NIOHTTP1

/// Serves the web client (docs/web-client.md) beside the API on every node: `/` and
/// `/activate` (the invitation mail's link) answer `index.html`, which is never cached; the
/// files it loads live under `/assets/` with content-hashed names and are cached for a year.
/// Every page carries a strict Content-Security-Policy: scripts and styles only from this
/// origin, no inline script, no `eval`, WebSocket back to the same host.
struct WebRoutes: Sendable {
    let assets: StaticAssets?

    static let contentSecurityPolicy = [
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "connect-src 'self' ws: wss:", "font-src 'self'", "object-src 'none'", "base-uri 'none'",
        "form-action 'self'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", contentSecurityPolicy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    ]

    func add(to router: inout APIRouter) {
        router.add(.GET, "/", page)
        router.add(.GET, "/activate", page)
        router.add(.GET, "/assets/{file}", asset)
    }

    func page(_ request: APIRequest) async throws -> APIResponse {
        guard let assets else {
            return APIResponse(status: .notFound, body: Array("This node was built without the web client.\n".utf8),
                               contentType: "text/plain", headers: Self.securityHeaders)
        }
        return Self.respond(assets.index, request, cacheControl: "no-cache")
    }

    func asset(_ request: APIRequest) async throws -> APIResponse {
        guard let name = request.parameters["file"], let asset = assets?.hashed[name] else {
            throw HubError.notFound("no such file")
        }
        return Self.respond(asset, request, cacheControl: "public, max-age=31536000, immutable")
    }

    /// The gzip form when the client accepts it (`Accept-Encoding`, RFC 9110 §12.5.3; a `q=0`
    /// refuses it).
    static func respond(_ asset: StaticAssets.Asset, _ request: APIRequest, cacheControl: String) -> APIResponse {
        var headers = securityHeaders
        headers.append(("Cache-Control", cacheControl))
        headers.append(("Vary", "Accept-Encoding"))
        if let gzipped = asset.gzipped, acceptsGzip(request.headers[canonicalForm: "accept-encoding"].map(String.init)) {
            headers.append(("Content-Encoding", "gzip"))
            return APIResponse(status: .ok, body: gzipped, contentType: asset.contentType, headers: headers)
        }
        return APIResponse(status: .ok, body: asset.body, contentType: asset.contentType, headers: headers)
    }

    static func acceptsGzip(_ values: [String]) -> Bool {
        for coding in values.flatMap({ $0.split(separator: ",") }).map(String.init) {
            let parts = coding.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard parts.first == "gzip" || parts.first == "*" else { continue }
            let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return q > 0
        }
        return false
    }
}
