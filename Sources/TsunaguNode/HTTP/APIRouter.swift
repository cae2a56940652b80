import NIOHTTP1

/// A small router: method + path pattern ("/v1/timelines/{id}/members") → handler. Hand-written
/// because the API is a few dozen routes on the same NIO pipeline as the WebSocket upgrade, and a
/// framework would bring its own server (docs/architecture.md).
struct APIRouter: Sendable {
    typealias Handler = @Sendable (APIRequest) async throws -> APIResponse

    private struct Route {
        var method: HTTPMethod
        var segments: [Substring]
        var handler: Handler
    }

    private var routes: [Route] = []

    mutating func add(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        routes.append(Route(method: method, segments: pattern.split(separator: "/"), handler: handler))
    }

    enum Match {
        case found(Handler, [String: String])
        case methodNotAllowed
        case notFound
    }

    func match(method: HTTPMethod, path: String) -> Match {
        let parts = path.split(separator: "/")
        var pathMatched = false
        for route in routes where route.segments.count == parts.count {
            var parameters: [String: String] = [:]
            var matched = true
            for (pattern, part) in zip(route.segments, parts) {
                if pattern.first == "{" && pattern.last == "}" {
                    parameters[String(pattern.dropFirst().dropLast())] = String(part)
                } else if pattern != part {
                    matched = false
                    break
                }
            }
            guard matched else { continue }
            pathMatched = true
            if route.method == method { return .found(route.handler, parameters) }
        }
        return pathMatched ? .methodNotAllowed : .notFound
    }
}
