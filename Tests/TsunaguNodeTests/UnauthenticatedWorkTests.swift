import Foundation
import Testing
import TsunaguClient
import TsunaguCore
@testable import TsunaguNode
import TsunaguStore

/// Issue item "unauthenticated work": completing a registration looks the link up before any
/// scrypt, registration requests and completions are throttled per address and per source in
/// the store (so across nodes), and known and unknown addresses are answered in the same time
/// (docs/security.md, "Unauthenticated work").
@Suite(.serialized, .timeLimit(.minutes(5)))
struct UnauthenticatedWorkTests {
    /// An unknown token, or one of the right shape that was never issued, is refused without
    /// hashing the password it came with.
    @Test func anUnknownActivationTokenCostsNoScrypt() async throws {
        try await withLiveNode { live in
            let passwords = live.node.context.passwords
            let before = passwords.hashesComputed.load(ordering: .relaxed)
            for token in ["bogus", String(repeating: "A", count: 43)] {
                let reply = try await live.http.send("POST", "/v1/registrations/complete",
                                                     json: ["token": .string(token), "name": "X", "password": "Str0ng-enough-pass!"])
                #expect(reply.status == 404)
            }
            #expect(passwords.hashesComputed.load(ordering: .relaxed) == before)
        }
    }

    /// Three link requests per address, twenty per source (here five) per window, counted in the
    /// store: alternating between two nodes does not double the allowance, and an unknown
    /// address is counted like a known one.
    @Test func registrationRequestsAreThrottledPerAddressAndPerSourceAcrossNodes() async throws {
        try await withLiveNode(nodes: 2, {
            $0.registrationThrottle = RequestThrottlePolicy(perAddress: 3, perSource: 5)
            $0.registrationAnswerFloor = .zero
        }) { live in
            let clients = live.ports.map { TsunaguHTTPClient(host: "127.0.0.1", port: $0, group: live.group) }
            for email in ["nurse@sakura.test", "nobody@sakura.test"] {
                var statuses: [Int] = []
                for attempt in 0..<2 {
                    statuses.append(try await clients[attempt % 2].send("POST", "/v1/registrations",
                                                                        json: ["email": .string(email)]).status)
                }
                #expect(statuses == [202, 202])
            }
            // Four from this source so far: the fifth is allowed, then the source has used its five.
            #expect(try await clients[0].send("POST", "/v1/registrations", json: ["email": "third@sakura.test"]).status == 202)
            let sixth = try await clients[1].send("POST", "/v1/registrations", json: ["email": "fourth@sakura.test"])
            #expect(sixth.status == 429)
            #expect(sixth.json?["code"]?.stringValue == "rate_limited")
        }
        // Per address: the fourth request for one address is refused, from anywhere.
        try await withLiveNode(nodes: 2, {
            $0.registrationThrottle = RequestThrottlePolicy(perAddress: 3, perSource: 100)
            $0.registrationAnswerFloor = .zero
        }) { live in
            let clients = live.ports.map { TsunaguHTTPClient(host: "127.0.0.1", port: $0, group: live.group) }
            var statuses: [Int] = []
            for attempt in 0..<5 {
                statuses.append(try await clients[attempt % 2].send("POST", "/v1/registrations",
                                                                    json: ["email": "Nurse@Sakura.test"]).status)
            }
            #expect(statuses == [202, 202, 202, 429, 429])
            let mails = try await live.store.leaseDueMail(now: Int64(Date().timeIntervalSince1970 * 1000) + 60_000, limit: 100).filter { $0.recipient == "nurse@sakura.test" }
            #expect(mails.count == 3)
        }
    }

    /// Completions count against the source, usable link or not.
    @Test func registrationCompletionIsThrottledPerSource() async throws {
        try await withLiveNode({ $0.activationThrottle = RequestThrottlePolicy(perAddress: 10, perSource: 3) }) { live in
            var statuses: [Int] = []
            for _ in 0..<4 {
                statuses.append(try await live.http.send("POST", "/v1/registrations/complete",
                                                         json: ["token": "bogus", "name": "X", "password": "Str0ng-enough-pass!"]).status)
            }
            #expect(statuses == [404, 404, 404, 429])
        }
    }

    /// Known and unknown addresses take the same time and neither answers before the floor.
    /// (Without the floor, medians of 15 interleaved requests each, printed for comparison: a known
    /// address costs a link, an outbox write and an audit entry more.)
    @Test func knownAndUnknownAddressesTakeTheSameTime() async throws {
        let generous = RequestThrottlePolicy(perAddress: 100, perSource: 1000)
        try await withLiveNode({
            $0.registrationThrottle = generous
            $0.registrationAnswerFloor = .zero
        }) { live in
            let (known, unknown) = try await Self.medians(live)
            print("registration answer medians without the floor: known \(known), unknown \(unknown)")
        }
        // With the floor: judged as the other address answers are (`AnswerTiming`), against the
        // gap between two unknown addresses when the rest of the suite loads the machine.
        try await withLiveNode({ $0.registrationThrottle = generous }) { live in
            let floor = live.node.configuration.registrationAnswerFloor
            try await AnswerTiming.expectAlike(known: "nurse@sakura.test", unknown: { "ghost\($0)-\($1)\($2)@sakura.test" },
                                               floor: floor, label: "registration") { email in
                let reply = try await live.http.send("POST", "/v1/registrations", json: ["email": .string(email)])
                #expect(reply.status == 202)
            }
        }
    }

    private static func medians(_ live: LiveNode) async throws -> (known: Duration, unknown: Duration) {
        var known: [Duration] = []
        var unknown: [Duration] = []
        for round in 0..<15 {
            for (email, isKnown) in [("nurse@sakura.test", true), ("ghost\(round)@sakura.test", false)] {
                let started = ContinuousClock.now
                #expect(try await live.http.send("POST", "/v1/registrations", json: ["email": .string(email)]).status == 202)
                let elapsed = ContinuousClock.now - started
                if isKnown { known.append(elapsed) } else { unknown.append(elapsed) }
            }
        }
        return (known.sorted()[known.count / 2], unknown.sorted()[unknown.count / 2])
    }
}
