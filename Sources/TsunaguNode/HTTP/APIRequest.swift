import Foundation
import NIOHTTP1
import TsunaguCore

/// One HTTP request of the JSON API, fully read.
struct APIRequest: Sendable {
    var method: HTTPMethod
    var path: String
    var query: [String: String]
    var headers: HTTPHeaders
    var body: [UInt8]
    /// Path parameters filled in by the router, e.g. "id" for /v1/timelines/{id}.
    var parameters: [String: String] = [:]
    /// The client's address (for the audit log, throttling and logs): the one a trusted proxy's
    /// PROXY header named (the balancer sends one on every connection), else the socket's.
    var source: String?
    /// SHA-256 of the client certificate this TLS connection presented, if any.
    var certificateFingerprint: [UInt8]?

    init(head: HTTPRequestHead, body: [UInt8], source: String? = nil, certificateFingerprint: [UInt8]? = nil) {
        self.source = source
        self.certificateFingerprint = certificateFingerprint
        method = head.method
        headers = head.headers
        self.body = body
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts.first ?? "")
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
                query[key] = value
            }
        }
        self.query = query
    }

    /// The bearer token of `Authorization: Bearer …`.
    var bearerToken: String? {
        guard let value = headers.first(name: "authorization") else { return nil }
        let prefix = "bearer "
        guard value.count > prefix.count, value.lowercased().hasPrefix(prefix) else { return nil }
        return String(value.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
    }

    /// Decodes the JSON body; a malformed body or a missing/wrong field is `bad_request` naming the field.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch let DecodingError.keyNotFound(key, _) {
            throw HubError.badRequest("\(key.stringValue): required")
        } catch let DecodingError.typeMismatch(_, context) {
            throw HubError.badRequest("\(context.codingPath.map(\.stringValue).joined(separator: ".")): wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw HubError.badRequest("\(context.codingPath.map(\.stringValue).joined(separator: ".")): required")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            throw HubError.badRequest("\(context.codingPath.map(\.stringValue).joined(separator: ".")): invalid value")
        } catch {
            throw HubError.badRequest("the body must be a JSON object")
        }
    }

    func queryInt(_ name: String, default value: Int64, range: ClosedRange<Int64>) throws -> Int64 {
        guard let raw = query[name], !raw.isEmpty else { return value }
        guard let number = Int64(raw), range.contains(number) else {
            throw HubError.badRequest("\(name): an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}

/// An HTTP answer with a JSON (or text) body.
struct APIResponse: Sendable {
    var status: HTTPResponseStatus
    var body: [UInt8]
    var contentType = "application/json"
    /// More headers (the web client's caching, encoding and Content-Security-Policy); a
    /// `Cache-Control` here replaces the API's `no-store`.
    var headers: [(String, String)] = []
    /// A body produced piece by piece after the head (sent chunked, never whole in memory):
    /// exports. `body` is then empty.
    var stream: ResponseStream? = nil

    static func json(_ status: HTTPResponseStatus = .ok, _ write: (inout JSONWriter) -> Void) -> APIResponse {
        var w = JSONWriter()
        w.beginObject()
        write(&w)
        w.endObject()
        return APIResponse(status: status, body: w.bytes)
    }

    static let noContent = APIResponse(status: .noContent, body: [])

    /// A streamed response of `contentType`.
    static func streamed(contentType: String, headers: [(String, String)] = [], _ stream: @escaping ResponseStream)
        -> APIResponse
    {
        APIResponse(status: .ok, body: [], contentType: contentType, headers: headers, stream: stream)
    }

    static func error(_ code: WireErrorCode, _ message: String) -> APIResponse {
        json(HTTPResponseStatus(statusCode: code.httpStatus)) { w in
            w.field("code", code.rawValue)
            w.field("message", message)
        }
    }
}
