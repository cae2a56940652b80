import Foundation
import NIOCore
import Testing
import TsunaguClient
import TsunaguCore
import TsunaguStore

/// Several nodes on one store: events committed through one node reach subscribers on the others,
/// in order and without gaps, even when peer messages are lost; drain moves clients with nothing lost.
@Suite struct ClusterTests {
    @Test func eventsPostedOnOneNodeReachSubscribersOnTheOthers() async throws {
        try await withLiveNode(nodes: 3) { live in
            try await waitForPeers(live, each: 2)
            var subscribers: [TsunaguConnection] = []
            for index in 1...2 {
                let nurse = try await live.session(live.nurseToken, node: index)
                _ = try await nurse.subscribe(live.timeline)
                subscribers.append(nurse)
            }
            let doctor = try await live.session(live.ownerToken, node: 0)
            let readsBefore = try await [1, 2].asyncMap { try await Self.storeReads(live, node: $0) }
            var posted: [Int] = []
            for i in 0..<40 { posted.append(try #require(try await doctor.post(live.timeline, "n\(i)")["seq"]?.intValue)) }
            for subscriber in subscribers {
                var received: [Int] = []
                var bodies: [String] = []
                for _ in posted {
                    let event = try await subscriber.nextEvent()
                    received.append(try #require(event["seq"]?.intValue))
                    bodies.append(event["body"]?.stringValue ?? "")
                }
                #expect(received == posted)
                #expect(bodies == (0..<40).map { "n\($0)" })
            }
            // The events came with their frames over the peer links, not from the store: at most
            // a read or two where a repair sweep's head overtook a frame (one read per event
            // before peer messages carried frames).
            for (index, node) in [1, 2].enumerated() {
                let reads = try await Self.storeReads(live, node: node) - readsBefore[index]
                #expect(reads <= 4, "node \(node) read the store \(reads) times for 40 events")
            }
        }
    }

    /// The feeds' store reads on one node so far (`tsunagu_repair_read_seconds_count`).
    static func storeReads(_ live: LiveNode, node index: Int) async throws -> Int {
        let admin = TsunaguHTTPClient(host: "127.0.0.1", port: try #require(live.nodes[index].adminPort), group: live.group)
        let text = try await admin.send("GET", "/metrics").text
        let line = text.split(separator: "\n").first { $0.hasPrefix("tsunagu_repair_read_seconds_count ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
    }

    /// Every announcement is dropped: the repair sweep reads the events from the store.
    @Test func lostPeerMessagesAreRepairedFromTheStore() async throws {
        try await withLiveNode(nodes: 2, { $0.peerDropRate = 1.0 }) { live in
            try await waitForPeers(live, each: 1)
            let nurse = try await live.session(live.nurseToken, node: 1)
            _ = try await nurse.subscribe(live.timeline)
            let doctor = try await live.session(live.ownerToken, node: 0)
            var posted: [Int] = []
            for i in 0..<20 { posted.append(try #require(try await doctor.post(live.timeline, "n\(i)")["seq"]?.intValue)) }
            var received: [Int] = []
            for _ in posted { received.append(try #require(try await nurse.nextEvent(timeout: .seconds(10))["seq"]?.intValue)) }
            #expect(received == posted)
        }
    }

    @Test func receiptsAndLogoutCrossNodes() async throws {
        try await withLiveNode(nodes: 2) { live in
            try await waitForPeers(live, each: 1)
            // Waits of 20 s: this runs while the rest of the suite loads the two cores most.
            let family = try await live.session(live.familyToken, node: 1)
            _ = try await family.subscribe(live.timeline, timeout: .seconds(20))
            let nurse = try await live.session(live.nurseToken, node: 0)
            _ = try await nurse.request(["type": "read", "timeline": .string(live.timeline.rawValue), "seq": 2],
                                        timeout: .seconds(20))
            let receipt = try await family.nextPush(timeout: .seconds(20))
            #expect(receipt["type"]?.stringValue == "receipt")
            #expect(receipt["user"]?.stringValue == live.nurse.id.rawValue)
            // logging out on node 0 closes the family's socket on node 1
            let logout = try await live.http.send("DELETE", "/v1/sessions/current", token: live.familyToken)
            #expect(logout.status == 204)
            #expect(try await family.waitForClose(timeout: .seconds(20)) == TsunaguCloseCode.sessionEnded)
        }
    }

    @Test func aPeerWithoutTheKeyCannotInjectAnything() async throws {
        try await withLiveNode(nodes: 2) { live in
            let forged = try await TsunaguConnection.connect(host: "127.0.0.1", port: live.ports[0], path: "/v1/peer",
                                                             group: live.group)
            try await forged.sendText(#"{"type":"peer","node":"n_evil","ts":\#(WireTime.nowMillis()),"nonce":"00112233445566778899aabbccddeeff","mac":"00"}"#)
            #expect(try await forged.waitForClose() == 1008)
            let noHello = try await TsunaguConnection.connect(host: "127.0.0.1", port: live.ports[0], path: "/v1/peer",
                                                              group: live.group)
            try await noHello.sendText(#"{"type":"event","timeline":"\#(live.timeline.rawValue)","seq":1}"#)
            #expect(try await noHello.waitForClose() == 1008)
        }
    }

    @Test func drainMovesClientsToAnotherNodeWithNothingLost() async throws {
        try await withLiveNode(nodes: 2) { live in
            try await waitForPeers(live, each: 1)
            let nurse = try await live.session(live.nurseToken, node: 1)
            _ = try await nurse.subscribe(live.timeline)
            let doctor = try await live.session(live.ownerToken, node: 0)
            let first = try #require(try await doctor.post(live.timeline, "before")["seq"]?.intValue)
            let seen = try #require(try await nurse.nextEvent()["seq"]?.intValue)
            #expect(seen == first)
            let draining = Task { await live.nodes[1].drain() }
            let reconnect = try await nurse.nextPush()
            #expect(reconnect["type"]?.stringValue == "reconnect")
            #expect(reconnect["reason"]?.stringValue == "draining")
            #expect((reconnect["after_ms"]?.intValue ?? -1) >= 0)
            #expect(try await nurse.waitForClose() == 1001)
            // posts keep coming while the client is away
            var posted: [Int] = []
            for i in 0..<10 { posted.append(try #require(try await doctor.post(live.timeline, "during \(i)")["seq"]?.intValue)) }
            await draining.value
            let ready = try await TsunaguHTTPClient(host: "127.0.0.1", port: live.ports[0], group: live.group)
                .send("GET", "/readyz")
            #expect(ready.status == 200)
            let resumed = try await live.session(live.nurseToken, node: 0)
            _ = try await resumed.subscribe(live.timeline, since: seen)
            var received: [Int] = []
            for _ in posted { received.append(try #require(try await resumed.nextEvent()["seq"]?.intValue)) }
            #expect(received == posted)
            let state = try await live.store.nodes().first { $0.id.rawValue == "n_1" }?.state
            #expect(state == .gone)
        }
    }

    private func waitForPeers(_ live: LiveNode, each count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while live.nodes.contains(where: { $0.peerLinkCount < count }) {
            guard ContinuousClock.now < deadline else { throw TestFailure("peer links did not come up") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
