import Foundation
import Testing
import TsunaguCore

@Suite struct WireTimeTests {
    @Test func formatsInJapanStandardTime() {
        #expect(WireTime.japan.format(millis: 0) == "1970-01-01T09:00:00.000+09:00")
        #expect(WireTime.japan.format(millis: 1_795_738_502_117) == "2026-11-27T09:15:02.117+09:00")
    }

    @Test func formatsUTCWithZ() {
        let utc = WireTime(timeZone: TimeZone(identifier: "UTC")!)
        #expect(utc.format(millis: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(utc.format(millis: -1) == "1969-12-31T23:59:59.999Z")
    }

    @Test func agreesWithFoundationOverManyInstants() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "America/New_York")
        let time = WireTime(timeZone: formatter.timeZone)
        var millis: Int64 = 946_684_800_000
        for _ in 0..<500 {
            millis += 7_919_993_137
            #expect(time.format(millis: millis) == formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)))
        }
    }
}
