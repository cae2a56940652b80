import Testing

/// Tests that start several processes (nodes, balancers, load generators, browsers) compete for
/// the machine's two cores, and some of them count acknowledgements within deadlines. They may
/// run together (`.processHeavy`), but the browser test — two Chromium instances beside three
/// `tsunagu` processes — runs alone among them (`.processHeavy(exclusive: true)`): with it in the
/// mix, the load-tool and cluster tests missed their deadlines on a busy machine.
///
/// A test's `.timeLimit` counts the wait for this gate too (Swift Testing applies scoping traits
/// inside the time limit): the browser test waits for every shared holder, most of a full run
/// (215 s of its 4 minutes in one CI-like run), so the limits of gated tests are generous and only
/// catch hangs.
actor ProcessHeavyGate {
    static let shared = ProcessHeavyGate()

    private var holders = 0
    private var exclusiveHeld = false
    private var waiting: [(exclusive: Bool, continuation: CheckedContinuation<Void, Never>)] = []

    /// Shared holders go first; an exclusive one waits until none holds or waits (the heavy tests
    /// are few and finite, so it does not wait for ever). Then the browser test runs late in the
    /// run, when the in-process tests are mostly done too.
    func acquire(exclusive: Bool) async {
        if canEnter(exclusive) {
            enter(exclusive)
            return
        }
        await withCheckedContinuation { waiting.append((exclusive, $0)) }
    }

    func release(exclusive: Bool) {
        if exclusive { exclusiveHeld = false } else { holders -= 1 }
        admitWaiters()
    }

    private func admitWaiters() {
        for exclusiveTurn in [false, true] {
            while let index = waiting.firstIndex(where: { $0.exclusive == exclusiveTurn }), canEnter(exclusiveTurn) {
                let next = waiting.remove(at: index)
                enter(next.exclusive)
                next.continuation.resume()
            }
        }
    }

    private func canEnter(_ exclusive: Bool) -> Bool {
        exclusive ? !exclusiveHeld && holders == 0 && !waiting.contains { !$0.exclusive } : !exclusiveHeld
    }

    private func enter(_ exclusive: Bool) {
        if exclusive { exclusiveHeld = true } else { holders += 1 }
    }
}

/// The trait that takes the gate around each test of a suite.
struct ProcessHeavyTrait: SuiteTrait, TestTrait, TestScoping {
    var exclusive: Bool
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil else { return try await function() }  // the suite itself: its tests take the gate
        // The suite's tests all start in one burst: a moment's wait lets the shared ones queue first.
        if exclusive { try await Task.sleep(for: .seconds(2)) }
        await ProcessHeavyGate.shared.acquire(exclusive: exclusive)
        do {
            try await function()
        } catch {
            await ProcessHeavyGate.shared.release(exclusive: exclusive)
            throw error
        }
        await ProcessHeavyGate.shared.release(exclusive: exclusive)
    }
}

extension Trait where Self == ProcessHeavyTrait {
    static var processHeavy: Self { ProcessHeavyTrait(exclusive: false) }
    static func processHeavy(exclusive: Bool) -> Self { ProcessHeavyTrait(exclusive: exclusive) }
}
