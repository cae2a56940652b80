import Foundation

/// Formats instants as RFC 3339 with milliseconds in the deployment's zone (docs/protocol.md §3: JST,
/// `+09:00`, by default). Hand-written rather than `ISO8601DateFormatter` because it runs once per
/// event on the hot path, must be thread-safe without locks, and the arithmetic is short.
public struct WireTime: Sendable {
    public let timeZone: TimeZone

    public static let japan = WireTime(timeZone: TimeZone(identifier: "Asia/Tokyo")!)

    public init(timeZone: TimeZone) { self.timeZone = timeZone }

    public static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    public func format(millis: Int64) -> String {
        let offset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000)))
        let local = millis + offset * 1000
        let (days, msOfDay) = Self.floorDivMod(local, 86_400_000)
        let (year, month, day) = Self.civil(fromDays: days)
        let hour = msOfDay / 3_600_000
        let minute = (msOfDay / 60_000) % 60
        let second = (msOfDay / 1000) % 60
        let milli = msOfDay % 1000
        var s = Self.pad(year, 4) + "-" + Self.pad(month, 2) + "-" + Self.pad(day, 2)
        s += "T" + Self.pad(hour, 2) + ":" + Self.pad(minute, 2) + ":" + Self.pad(second, 2)
        s += "." + Self.pad(milli, 3)
        if offset == 0 { return s + "Z" }
        let sign = offset < 0 ? "-" : "+"
        let absOffset = abs(offset)
        return s + sign + Self.pad(absOffset / 3600, 2) + ":" + Self.pad((absOffset / 60) % 60, 2)
    }

    private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a >= 0 ? a / b : -((-a + b - 1) / b)
        return (q, a - q * b)
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    private static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
