import Foundation
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguNode

/// Issue item "roles" (its last sentence): a per-user post rate limit answers `rate_limited`
/// (docs/security.md, "Post rate").
@Suite(.serialized, .timeLimit(.minutes(5)))
struct PostRateLimitTests {
    /// A burst of three (refilled over an hour, so that a slow machine sees no refill during the
    /// test; the refill itself is `PostRateLimiterTests`): the fourth post is refused with
    /// `rate_limited` and not stored; another user posts meanwhile.
    @Test func aUserPostingPastTheBurstGetsRateLimited() async throws {
        try await withLiveNode({
            $0.postBurst = 3
            $0.postWindowSeconds = 3600
        }) { live in
            let doctor = try await live.session(live.ownerToken)
            for i in 0..<3 { #expect(try await doctor.post(live.timeline, "ok \(i)")["type"]?.stringValue == "ok") }
            let refused = try await doctor.post(live.timeline, "one too many")
            #expect(refused["type"]?.stringValue == "error")
            #expect(refused["code"]?.stringValue == "rate_limited")
            let nurse = try await live.session(live.nurseToken)
            #expect(try await nurse.post(live.timeline, "from the nurse")["type"]?.stringValue == "ok")
            let history = try await live.http.send("GET", "/v1/timelines/\(live.timeline.rawValue)/events?after=0&limit=100",
                                                   token: live.ownerToken)
            #expect(!String(decoding: history.body, as: UTF8.self).contains("one too many"))
        }
    }
}
