import Testing
import TsunaguBalancer

@Suite struct RoundRobinPickerTests {
    let a = Backend(id: "a", host: "10.0.0.1", port: 8080)
    let b = Backend(id: "b", host: "10.0.0.2", port: 8080)
    let c = Backend(id: "c", host: "10.0.0.3", port: 8080)
    let d = Backend(id: "d", host: "10.0.0.4", port: 8080)

    @Test func rotatesEvenly() {
        var picker = RoundRobinPicker()
        var counts: [String: Int] = [:]
        for _ in 0..<300 {
            let backend = picker.next(from: [c, a, b])!
            counts[backend.id, default: 0] += 1
        }
        #expect(counts == ["a": 100, "b": 100, "c": 100])
    }

    @Test func rotationFollowsIdOrderNotListOrder() {
        var picker = RoundRobinPicker()
        let picks = (0..<6).map { _ in picker.next(from: [c, b, a])!.id }
        #expect(picks == ["a", "b", "c", "a", "b", "c"])
    }

    @Test func skipsUnavailableBackends() {
        var picker = RoundRobinPicker()
        let picks = (0..<6).map { _ in picker.next(from: [a, b, c], isAvailable: { $0.id != "b" })!.id }
        #expect(picks == ["a", "c", "a", "c", "a", "c"])
    }

    @Test func emptySetGivesNothing() {
        var picker = RoundRobinPicker()
        #expect(picker.next(from: []) == nil)
        #expect(picker.attemptOrder(from: []).isEmpty)
        #expect(picker.next(from: [a, b], isAvailable: { _ in false }) == nil)
        // And the rotation still works once backends appear.
        #expect(picker.next(from: [a, b])?.id == "a")
    }

    @Test func attemptOrderTriesEveryBackendOnceFromTheNextInRotation() {
        var picker = RoundRobinPicker()
        #expect(picker.attemptOrder(from: [a, b, c]).map(\.id) == ["a", "b", "c"])
        #expect(picker.attemptOrder(from: [a, b, c]).map(\.id) == ["b", "c", "a"])
        #expect(picker.attemptOrder(from: [a, b, c]).map(\.id) == ["c", "a", "b"])
        #expect(picker.attemptOrder(from: [a, b, c]).map(\.id) == ["a", "b", "c"])
    }

    @Test func duplicateIdsGetOneTurn() {
        var picker = RoundRobinPicker()
        let other = Backend(id: "a", host: "10.9.9.9", port: 1)
        #expect(picker.attemptOrder(from: [a, other, b]).map(\.id) == ["a", "b"])
    }

    @Test func staysFairWhenABackendJoins() {
        var picker = RoundRobinPicker()
        #expect(picker.next(from: [a, c])?.id == "a")
        // b joins between a and c: it is next, and c is not skipped.
        #expect(picker.next(from: [a, b, c])?.id == "b")
        #expect(picker.next(from: [a, b, c])?.id == "c")
        var counts: [String: Int] = [:]
        for _ in 0..<300 {
            counts[picker.next(from: [a, b, c])!.id, default: 0] += 1
        }
        #expect(counts == ["a": 100, "b": 100, "c": 100])
    }

    @Test func staysFairWhenABackendLeaves() {
        var picker = RoundRobinPicker()
        #expect(picker.next(from: [a, b, c, d])?.id == "a")
        #expect(picker.next(from: [a, b, c, d])?.id == "b")
        // b (the last picked) and c leave: the ring goes on after b's place, to d, not back to a.
        #expect(picker.next(from: [a, d])?.id == "d")
        #expect(picker.next(from: [a, d])?.id == "a")
        var counts: [String: Int] = [:]
        for _ in 0..<100 {
            counts[picker.next(from: [a, d])!.id, default: 0] += 1
        }
        #expect(counts == ["a": 50, "d": 50])
    }

    @Test func everyBackendGetsATurnWithinOneRoundWhileTheSetChurns() {
        var picker = RoundRobinPicker()
        let all = [a, b, c, d]
        // Each round one backend is missing; every present backend is still picked within
        // one round's worth of picks.
        for missing in 0..<all.count {
            let present = all.enumerated().filter { $0.offset != missing }.map(\.element)
            let picked = Set((0..<present.count).map { _ in picker.next(from: present)!.id })
            #expect(picked == Set(present.map(\.id)))
        }
    }
}
