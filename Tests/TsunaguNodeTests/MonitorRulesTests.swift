import Testing
@testable import TsunaguNode

/// The monitors' rules on scripted days (docs/operations.md, "Monitors"): each fires on its
/// pattern and stays quiet on a normal day's.
@Suite struct MonitorRulesTests {
    static let minute: Int64 = 60_000
    static let start: Int64 = 1_764_000_000_000

    var thresholds: MonitorThresholds {
        var thresholds = MonitorThresholds()
        thresholds.loginFailures = MonitorThreshold(count: 10, windowSeconds: 600)
        thresholds.patientReads = MonitorThreshold(count: 20, windowSeconds: 600)
        thresholds.invitations = MonitorThreshold(count: 10, windowSeconds: 3600)
        thresholds.fanOut = MonitorThreshold(count: 8, windowSeconds: 600)
        return thresholds
    }

    /// A normal day at a clinic of 30 staff, 8:00 to 18:00: a few mistyped passwords an hour, each
    /// nurse opening the same handful of patients again and again, a couple of invitations, posts
    /// into the few timelines each one cares for.
    @Test func normalDayStaysQuiet() {
        var windows = MonitorWindows(thresholds: thresholds)
        var triggers: [MonitorWindows.Trigger] = []
        for minute in 0..<(10 * 60) {
            let now = Self.start + Int64(minute) * Self.minute
            if minute % 20 == 0, let t = windows.observe(.loginFailures, key: "o_clinic", at: now) { triggers.append(t) }
            for staff in 0..<30 where (minute + staff) % 15 == 0 {
                let user = "u_staff\(staff)"
                // Each staff member cares for six patients and reads them through the day.
                let patient = "tl_patient\(staff * 6 + (minute / 15) % 6)"
                if let t = windows.observe(.patientReads, key: user, item: patient, at: now) { triggers.append(t) }
                if let t = windows.observe(.fanOut, key: user, item: patient, at: now) { triggers.append(t) }
            }
            if minute % 240 == 0, let t = windows.observe(.invitations, key: "u_admin", at: now) { triggers.append(t) }
        }
        #expect(triggers.isEmpty)
    }

    @Test func loginFailureSpikeFiresOncePerBurst() {
        var windows = MonitorWindows(thresholds: thresholds)
        var fired: [MonitorWindows.Trigger] = []
        // A guessing run: a failure every 5 s for 10 minutes against one organization's accounts.
        for second in stride(from: 0, to: 600, by: 5) {
            if let t = windows.observe(.loginFailures, key: "o_clinic", at: Self.start + Int64(second) * 1000) {
                fired.append(t)
            }
        }
        #expect(fired.count == 1, "one alert per window, not one per failure")
        #expect(fired.first?.observed == 10)
        #expect(fired.first?.key == "o_clinic")
        // Another organization's failures are counted apart.
        #expect(windows.observe(.loginFailures, key: "o_other", at: Self.start + 601_000) == nil)
    }

    @Test func oneAccountReadingManyPatientTimelinesFires() throws {
        var windows = MonitorWindows(thresholds: thresholds)
        var fired: MonitorWindows.Trigger?
        for index in 0..<25 where fired == nil {
            fired = windows.observe(.patientReads, key: "u_snoop", item: "tl_p\(index)", at: Self.start + Int64(index) * 10_000)
        }
        let trigger = try #require(fired)
        #expect(trigger.observed == 20)
        #expect(trigger.items.count == 20, "the timelines go along, to be checked for patient timelines")
        // The same timeline again and again is not many timelines.
        var again = MonitorWindows(thresholds: thresholds)
        for index in 0..<100 {
            #expect(again.observe(.patientReads, key: "u_nurse", item: "tl_p1", at: Self.start + Int64(index) * 1000) == nil)
        }
    }

    @Test func unconfirmedTriggerFiresAgainAfterGrowth() {
        var windows = MonitorWindows(thresholds: thresholds)
        var first: MonitorWindows.Trigger?
        var index = 0
        while first == nil {
            first = windows.observe(.patientReads, key: "u_x", item: "tl_g\(index)", at: Self.start + Int64(index) * 1000)
            index += 1
        }
        windows.unconfirmed(first!)
        // A tenth of the threshold (2) more distinct timelines: checked again.
        #expect(windows.observe(.patientReads, key: "u_x", item: "tl_p_new1", at: Self.start + 30_000) == nil)
        let second = windows.observe(.patientReads, key: "u_x", item: "tl_p_new2", at: Self.start + 31_000)
        #expect(second?.observed == 22)
    }

    @Test func massInvitationsFire() {
        var windows = MonitorWindows(thresholds: thresholds)
        var fired: [MonitorWindows.Trigger] = []
        for index in 0..<30 {
            if let t = windows.observe(.invitations, key: "u_admin", at: Self.start + Int64(index) * 30_000) { fired.append(t) }
        }
        #expect(fired.map(\.observed) == [10])
    }

    @Test func unusualFanOutFires() {
        var windows = MonitorWindows(thresholds: thresholds)
        var fired: [MonitorWindows.Trigger] = []
        // The same message pasted into one timeline after another.
        for index in 0..<12 {
            if let t = windows.observe(.fanOut, key: "u_spread", item: "tl_\(index)", at: Self.start + Int64(index) * 5000) {
                fired.append(t)
            }
        }
        #expect(fired.map(\.observed) == [8])
    }

    @Test func windowsSlide() {
        var windows = MonitorWindows(thresholds: thresholds)
        // Nine failures, then the tenth just after the first has left the window: no alert.
        for index in 0..<9 {
            #expect(windows.observe(.loginFailures, key: "o", at: Self.start + Int64(index) * 1000) == nil)
        }
        #expect(windows.observe(.loginFailures, key: "o", at: Self.start + 600_001) == nil)
    }

    @Test func thresholdsParse() {
        #expect(MonitorThreshold("20/10m") == MonitorThreshold(count: 20, windowSeconds: 600))
        #expect(MonitorThreshold("5/30s") == MonitorThreshold(count: 5, windowSeconds: 30))
        #expect(MonitorThreshold("50/1h")?.text == "50/1h")
        for bad in ["", "20", "20/", "/10m", "0/10m", "20/10", "20/10d", "x/1m", "20/8000h"] {
            #expect(MonitorThreshold(bad) == nil, "\(bad)")
        }
        #expect(DataLocation("JP/Tokyo") == DataLocation("JP/Tokyo"))
        #expect(DataLocation("JP/Tokyo")?.region == "Tokyo")
        #expect(DataLocation("JP")?.region == nil)
        for bad in ["", "jp", "Japan", "JP/", "JPN/Tokyo", "JP/\u{7}"] { #expect(DataLocation(bad) == nil, "\(bad)") }
    }
}
