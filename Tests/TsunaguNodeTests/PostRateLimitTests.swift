import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguNode

/// Issue item "roles" (its last sentence): a per-user post rate limit answers `rate_limited`
/// (docs/security.md, "Post rate").
@Suite(.serialized, .timeLimit(.minutes(1)))
struct PostRateLimitTests {
    /// A burst of three per 10 s: the fourth post is refused with `rate_limited` and not stored;
    /// another user posts meanwhile; the refused user posts again once the bucket refills.
    @Test func aUserPostingPastTheBurstGetsRateLimited() async throws {
        try await withLiveNode({
            $0.postBurst = 3
            $0.postWindowSeconds = 1
        }) { live in
            let doctor = try await live.session(live.ownerToken)
            for i in 0..<3 { #expect(try await doctor.post(live.timeline, "ok \(i)")["type"]?.stringValue == "ok") }
            let refused = try await doctor.post(live.timeline, "one too many")
            #expect(refused["type"]?.stringValue == "error")
            #expect(refused["code"]?.stringValue == "rate_limited")
            let nurse = try await live.session(live.nurseToken)
            #expect(try await nurse.post(live.timeline, "from the nurse")["type"]?.stringValue == "ok")
            // Three per second refill: one post is back after a third of a second.
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await doctor.post(live.timeline, "later")["type"]?.stringValue == "ok")
            let history = try await live.http.send("GET", "/v1/timelines/\(live.timeline.rawValue)/events?after=0&limit=100",
                                                   token: live.ownerToken)
            #expect(!String(decoding: history.body, as: UTF8.self).contains("one too many"))
        }
    }
}
