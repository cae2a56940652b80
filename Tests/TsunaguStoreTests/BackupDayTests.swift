import Foundation
import Testing
@testable import TsunaguStore

/// A backup is named for the calendar day of the zone the logs use (docs/operations.md), not
/// always the UTC day: late evening UTC is already the next day in Japan.
@Suite struct BackupDayTests {
    @Test func theFileNameFollowsTheGivenZonesCalendarDay() throws {
        let evening = try #require(ISO8601DateFormatter().date(from: "2026-11-30T20:00:00Z"))
        #expect(StoreBackup.fileName(for: evening) == "tsunagu-20261130.backup")
        #expect(StoreBackup.fileName(for: evening, timeZone: try #require(TimeZone(identifier: "Asia/Tokyo")))
                == "tsunagu-20261201.backup")
        #expect(StoreBackup.fileName(for: evening, timeZone: try #require(TimeZone(identifier: "America/New_York")))
                == "tsunagu-20261130.backup")
    }
}
