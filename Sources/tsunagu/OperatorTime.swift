import ArgumentParser
import Foundation
import TsunaguCore

/// Times on the operator's command line: RFC 3339 with an offset (`2026-12-05T22:00:00+09:00`),
/// printed back in the deployment's zone (`--time-zone`).
enum OperatorTime {
    static func parse(_ text: String, flag: String) throws -> Int64 {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = fractional.date(from: text) ?? ISO8601DateFormatter().date(from: text) else {
            throw ValidationError("\(flag): '\(text)' is not an RFC 3339 time such as 2026-12-05T22:00:00+09:00")
        }
        return Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func wireTime(_ zone: String) throws -> WireTime {
        guard let timeZone = TimeZone(identifier: zone) else { throw ValidationError("--time-zone: unknown zone '\(zone)'") }
        return WireTime(timeZone: timeZone)
    }
}
