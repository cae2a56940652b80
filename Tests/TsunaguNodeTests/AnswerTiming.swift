import Testing

/// Whether an answer's time tells a known address from an unknown one, as the tests of answers
/// that must not (member adds, admin invites) measure it: rounds of three requests back to back —
/// the known address, an unknown one, another unknown one. The known-vs-unknown gap must stay
/// under a quarter of the answer floor or, when the machine is loaded (the rest of the suite on two
/// cores), under twice the gap between the two unknown addresses, which measures that load.
/// Medians over 9 rounds; up to three tries. Every answer must also wait for the floor.
enum AnswerTiming {
    typealias Verdict = (gap: Duration, noise: Duration)

    /// `send` makes one request for an address and checks its answer; `unknown` names a fresh
    /// unknown address for (try, round, which of the two).
    static func expectAlike(known: String, unknown: (_ attempt: Int, _ round: Int, _ which: String) -> String,
                            floor: Duration, label: String,
                            _ send: (_ email: String) async throws -> Void) async throws {
        var verdicts: [Verdict] = []
        func gap(_ a: Duration, _ b: Duration) -> Duration { a > b ? a - b : b - a }
        for attempt in 0..<3 {
            var knownTimes: [Duration] = [], gaps: [Duration] = [], noise: [Duration] = []
            for round in 0..<9 {
                var times: [Duration] = []
                for email in [known, unknown(attempt, round, "a"), unknown(attempt, round, "b")] {
                    let started = ContinuousClock.now
                    try await send(email)
                    times.append(ContinuousClock.now - started)
                }
                knownTimes.append(times[0])
                gaps.append(gap(times[0], times[1]))
                noise.append(gap(times[2], times[1]))
            }
            #expect(knownTimes.sorted()[knownTimes.count / 2] >= floor, "answers wait for the floor")
            let verdict = (gap: gaps.sorted()[gaps.count / 2], noise: noise.sorted()[noise.count / 2])
            verdicts.append(verdict)
            if verdict.gap < max(floor / 4, verdict.noise * 2) { break }
        }
        print("\(label): median gaps known-unknown and unknown-unknown \(verdicts), floor \(floor)")
        #expect(verdicts.contains { $0.gap < max(floor / 4, $0.noise * 2) }, "\(verdicts)")
    }
}
