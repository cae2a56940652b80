import Testing

@testable import TsunaguMail

@Suite("Retry backoff")
struct BackoffTests {
    @Test func nominalCurveDoublesFromFiveSecondsToOneHour() {
        let nominal = (1...13).map { MailDeliveryWorker.backoff(attempt: $0, jitter: 0) }
        #expect(nominal == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600].map { Duration.seconds($0) })
    }

    @Test func jitterIsPlusMinusTwentyPercent() {
        #expect(MailDeliveryWorker.backoff(attempt: 1, jitter: -1) == .seconds(4))
        #expect(MailDeliveryWorker.backoff(attempt: 1, jitter: 1) == .seconds(6))
        #expect(MailDeliveryWorker.backoff(attempt: 4, jitter: 0.5) == .seconds(44))
        // Near the cap the jitter only shortens: never more than an hour.
        #expect(MailDeliveryWorker.backoff(attempt: 11, jitter: 1) == .seconds(3600))
        #expect(MailDeliveryWorker.backoff(attempt: 11, jitter: -1) == .seconds(2880))
    }

    @Test func randomJitterStaysInRange() {
        for attempt in 1...30 {
            let nominal = MailDeliveryWorker.backoff(attempt: attempt, jitter: 0)
            for _ in 0..<50 {
                let delay = MailDeliveryWorker.backoff(attempt: attempt)
                #expect(delay >= nominal * 0.8 && delay <= min(nominal * 1.2, .seconds(3600)))
            }
        }
    }

    @Test func absurdAttemptCountsDoNotOverflow() {
        #expect(MailDeliveryWorker.backoff(attempt: Int.max, jitter: 0) == .seconds(3600))
        #expect(MailDeliveryWorker.backoff(attempt: 0, jitter: 0) == .seconds(5))
        #expect(MailDeliveryWorker.backoff(attempt: -3, jitter: 0) == .seconds(5))
    }

    @Test func defaultScheduleSpansAboutHalfADay() {
        let total = (1..<20).reduce(Duration.zero) { $0 + MailDeliveryWorker.backoff(attempt: $1, jitter: 0) }
        #expect(total > .seconds(10 * 3600) && total < .seconds(14 * 3600))
    }
}
