/// Polls `condition` until it holds, for the process-level tests: a liveness wait, not a timing
/// assertion. A condition that throws counts as not yet; after `seconds` the test fails, naming
/// what it waited for and what `seen` last reported.
func waitUntil(_ what: String, seconds: Int = 15, pause: Duration = .milliseconds(100), seen: () -> [String] = { [] },
               _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: pause)
    }
    let last = seen()
    throw TestFailure("timed out waiting until \(what)" + (last.isEmpty ? "" : "; last seen: \(last)"))
}
