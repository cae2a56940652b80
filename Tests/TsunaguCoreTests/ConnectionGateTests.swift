import Testing
import TsunaguCore

/// The caps behind `--max-connections` and `--max-connections-per-source` (node and balancer).
struct ConnectionGateTests {
    @Test func theTotalAndEachSourceAreCappedAndPlacesComeBack() {
        let gate = ConnectionGate(maxConnections: 3, maxPerSource: 2)
        #expect(gate.admit() == nil)
        #expect(gate.admit(source: "a") == nil)
        #expect(gate.admit() == nil)
        #expect(gate.admit(source: "a") == nil)
        #expect(gate.admit(source: "a") == .sourceFull)
        #expect(gate.admit(source: "b") == nil)
        #expect(gate.admit() == nil)
        #expect(gate.admit() == .full)
        #expect(gate.open() == 3 && gate.open(from: "a") == 2)
        gate.release(source: "a")
        gate.release()
        #expect(gate.admit(source: "a") == nil)
        #expect(gate.admit() == nil)
    }

    @Test func theDefaultLeavesHeadroomUnderTheFileLimit() {
        #expect(ConnectionGate.defaultMaxConnections(fileLimit: 1024) == 512)
        #expect(ConnectionGate.defaultMaxConnections(fileLimit: 20_000) == 19_000)
        #expect(ConnectionGate.defaultMaxConnections(fileLimit: 100) == 16)
    }
}

/// The per-user post bucket (`--max-posts-per-user`, `--post-window`).
struct PostRateLimiterTests {
    @Test func aBurstThenAnEvenRefillPerUser() {
        let limiter = PostRateLimiter(burst: 20, windowMillis: 10_000)
        for _ in 0..<20 { #expect(limiter.allow(user: "u_a", nowMillis: 1_000)) }
        #expect(!limiter.allow(user: "u_a", nowMillis: 1_000))
        #expect(limiter.allow(user: "u_b", nowMillis: 1_000), "each user has a bucket")
        #expect(!limiter.allow(user: "u_a", nowMillis: 1_400), "two per second: none back after 400 ms")
        #expect(limiter.allow(user: "u_a", nowMillis: 1_600))
        #expect(!limiter.allow(user: "u_a", nowMillis: 1_600))
    }

    @Test func zeroMeansNoLimit() {
        let limiter = PostRateLimiter(burst: 0, windowMillis: 10_000)
        for _ in 0..<1000 { #expect(limiter.allow(user: "u_a", nowMillis: 0)) }
    }
}
