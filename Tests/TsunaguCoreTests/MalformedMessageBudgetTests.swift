import Testing
import TsunaguCore

@Suite struct MalformedMessageBudgetTests {
    @Test func allowsTwentyPerMinuteThenRefuses() {
        var budget = MalformedMessageBudget()
        for i in 0..<20 {
            let allowed = budget.record(nowMillis: Int64(i))
            #expect(allowed)
        }
        let allowed = budget.record(nowMillis: 20)
        #expect(!allowed)
    }

    @Test func forgetsMessagesOlderThanTheWindow() {
        var budget = MalformedMessageBudget(limit: 2, windowMillis: 1000)
        var results: [Bool] = []
        for at in [0, 10, 1005, 1006] as [Int64] { results.append(budget.record(nowMillis: at)) }
        #expect(results == [true, true, true, false])
    }
}
