import Testing
import TsunaguCore
import TsunaguRealtime

/// Every way a connection ends, with the close code it sends and the one exit from the
/// registries; and the auth rules around the deadline.
@Suite struct SessionStateMachineTests {
    typealias Machine = SessionStateMachine<String>

    private func live() -> Machine {
        var machine = Machine()
        #expect(machine.authReceived() == .check)
        #expect(machine.authSucceeded("s1", expiresAtMillis: 10_000) == [.cancelAuthTimer, .register])
        #expect(machine.state == .live)
        return machine
    }

    /// Closes the transport after `actions` and checks the connection leaves every registry once.
    private func expectClosed(_ machine: inout Machine, by actions: [Machine.Action], code: UInt16?,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        if let code {
            let close = actions.compactMap { if case .close(let ending) = $0 { ending } else { nil } }
            #expect(close.map(\.closeCode) == [code], sourceLocation: sourceLocation)
        } else {
            #expect(actions.isEmpty, sourceLocation: sourceLocation)
        }
        #expect(machine.transportClosed() == [.leaveRegistries], sourceLocation: sourceLocation)
        #expect(machine.transportClosed() == [], "once only", sourceLocation: sourceLocation)
        #expect(machine.state == .closed, sourceLocation: sourceLocation)
    }

    @Test func theClientCloses() {
        var machine = live()
        expectClosed(&machine, by: [], code: nil)
    }

    @Test func noAuthWithinTheTimeoutCloses4001() {
        var machine = Machine()
        let actions = machine.authDeadlineReached()
        #expect(machine.ending == .authTimeout)
        expectClosed(&machine, by: actions, code: 4001)
    }

    @Test func anAuthStillBeingCheckedAtTheDeadlineIsWaitedFor() {
        var waiting = Machine()
        #expect(waiting.authReceived() == .check)
        #expect(waiting.authDeadlineReached() == [])
        #expect(waiting.authSucceeded("s1", expiresAtMillis: 10_000) == [.cancelAuthTimer, .register])
        #expect(waiting.state == .live)

        var refused = Machine()
        #expect(refused.authReceived() == .check)
        #expect(refused.authReceived() == .check)
        #expect(refused.authDeadlineReached() == [])
        #expect(refused.authFailed() == [], "one auth is still being checked")
        let actions = refused.authFailed()
        expectClosed(&refused, by: actions, code: 4001)
    }

    @Test func theExpirySweepCloses4003() {
        var machine = live()
        let actions = machine.sessionEnded(.expired)
        #expect(machine.ending?.reason == "session expired")
        expectClosed(&machine, by: actions, code: 4003)
    }

    @Test func aRevokedSessionCloses4003() {
        var machine = live()
        let actions = machine.sessionEnded(.revoked)
        #expect(machine.ending?.reason == "session ended")
        expectClosed(&machine, by: actions, code: 4003)
    }

    @Test func aSlowConsumerCloses4008() {
        var machine = live()
        let actions = machine.slowConsumer()
        #expect(machine.ending?.reason == "slow consumer: reconnect and resume with since")
        expectClosed(&machine, by: actions, code: 4008)
    }

    @Test func theKeepAliveGivingUpLeavesTheRegistries() {
        // The WebSocket layer sends the Close (1001 "ping timeout") itself; the session learns that
        // the transport is gone.
        var machine = live()
        #expect(ConnectionEnding.keepAliveTimeout.closeCode == 1001)
        expectClosed(&machine, by: [], code: nil)
    }

    @Test func drainingSaysWhenToComeBackThenCloses1001() {
        var machine = live()
        let actions = machine.drain(afterMillis: 700)
        #expect(actions.first == .sendReconnect(afterMillis: 700))
        #expect(machine.state == .draining)
        #expect(machine.drain(afterMillis: 5) == [], "once")
        #expect(machine.slowConsumer() == [], "already closing")
        expectClosed(&machine, by: actions, code: 1001)
    }

    @Test func malformedMessagesPastTheBudgetClose1008() {
        var machine = Machine(malformedBudget: MalformedMessageBudget(limit: 2, windowMillis: 60_000))
        #expect(machine.malformedMessage(nowMillis: 1) == [])
        #expect(machine.malformedMessage(nowMillis: 2) == [])
        let actions = machine.malformedMessage(nowMillis: 3)
        expectClosed(&machine, by: actions, code: 1008)
    }

    @Test func aStoreThatFailsASubscriptionCloses1011() {
        var machine = live()
        let actions = machine.storeUnavailable()
        expectClosed(&machine, by: actions, code: 1011)
    }

    @Test func requestsNeedALiveUnexpiredSession() {
        var machine = Machine()
        guard case .notAuthenticated = machine.admit(nowMillis: 0) else { Issue.record("admitted"); return }
        machine = live()
        guard case .proceed(let session) = machine.admit(nowMillis: 9_999) else { Issue.record("refused"); return }
        #expect(session == "s1")
        guard case .expired = machine.admit(nowMillis: 10_000) else { Issue.record("not expired"); return }
        #expect(machine.authReceived() == .alreadyAuthenticated)
    }

    @Test func closeCodesAreTheContractsOwn() {
        #expect(ConnectionEnding.authTimeout.closeCode == TsunaguCloseCode.authTimeout)
        #expect(ConnectionEnding.sessionEnded(.revoked).closeCode == TsunaguCloseCode.sessionEnded)
        #expect(ConnectionEnding.slowConsumer.closeCode == TsunaguCloseCode.slowConsumer)
        #expect(ConnectionEnding.draining.closeCode == 1001)
    }
}
