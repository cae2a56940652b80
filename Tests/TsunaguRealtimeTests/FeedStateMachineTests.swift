import Testing
import TsunaguCore
import TsunaguRealtime

/// The feed state machine against the in-memory event log: every test asserts the exact
/// sequence each subscriber receives.
@Suite struct FeedStateMachineTests {
    @Test func eventsCommittedHereOutOfOrderAreReleasedInOrder() {
        let feed = FeedHarness()
        _ = feed.subscribe("a", since: nil)
        let one = feed.commitHere(), two = feed.commitHere()
        feed.publish(two)  // the racing publisher of seq 2 wins
        #expect(feed.events(of: "a") == [])
        #expect(feed.holdTimerArmed)
        feed.publish(one)
        #expect(feed.events(of: "a") == [1, 2])
        feed.expireHold()
        #expect(feed.pendingReads.isEmpty, "the gap closed by itself: no store read")
    }

    @Test func duplicateAndOutOfOrderAnnouncementsCostOneRead() async throws {
        let feed = FeedHarness()
        _ = feed.subscribe("a", since: nil)
        for _ in 1...5 { feed.commitElsewhere() }
        feed.heard(5)
        feed.heard(3)  // older, out of order
        feed.heard(5)  // duplicate
        #expect(feed.pendingReads.count == 1)
        try await feed.settle()
        feed.heard(5)
        #expect(feed.pendingReads.isEmpty)
        #expect(feed.events(of: "a") == [1, 2, 3, 4, 5])
        #expect(feed.readCount == 1)
    }

    @Test func aLostAnnouncementIsRepairedFromTheLogByTheSweep() async throws {
        let feed = FeedHarness()
        _ = feed.subscribe("a", since: nil)
        feed.commitElsewhere()  // announced: delivered
        feed.heard(1)
        try await feed.settle()
        feed.commitElsewhere()  // its announcement was lost
        let three = feed.commitHere()
        feed.publish(three)  // held behind the missing 2
        #expect(feed.events(of: "a") == [1])
        feed.expireHold()  // the hold time passed: read the gap
        try await feed.settle()
        #expect(feed.events(of: "a") == [1, 2, 3])
        feed.commitElsewhere()  // lost too; the once-a-second sweep reads the head
        feed.heard(feed.log.head(feed.timeline))
        try await feed.settle()
        #expect(feed.events(of: "a") == [1, 2, 3, 4])
    }

    @Test func aSubscriberThatJoinsMidRepairGetsEverythingOnce() async throws {
        let feed = FeedHarness()
        for _ in 1...4 { feed.commitElsewhere() }
        _ = feed.subscribe("a", since: 4)
        for _ in 5...8 { feed.commitElsewhere() }
        feed.heard(8)
        #expect(feed.pendingReads.count == 1)  // (4, 8] in flight
        _ = feed.subscribe("b", since: 1)  // joins while the repair is in flight
        #expect(feed.pendingReads.count == 1, "one read at a time")
        try await feed.settle()
        #expect(feed.events(of: "a") == [5, 6, 7, 8])
        #expect(feed.events(of: "b") == [2, 3, 4, 5, 6, 7, 8])
        let nine = feed.commitHere()
        feed.publish(nine)
        #expect(feed.events(of: "a") == [5, 6, 7, 8, 9])
        #expect(feed.events(of: "b") == [2, 3, 4, 5, 6, 7, 8, 9])
    }

    @Test func aSubscriberAheadOfTheFeedWaitsForItInsteadOfGettingDuplicates() async throws {
        let feed = FeedHarness()
        _ = feed.subscribe("a", since: nil)  // anchors the feed at 0
        let one = feed.commitHere(), two = feed.commitHere()
        _ = feed.subscribe("b", since: 2)  // read head 2 before this node released 1 and 2
        feed.publish(one)
        feed.publish(two)
        try await feed.settle()
        let three = feed.commitHere()
        feed.publish(three)
        #expect(feed.events(of: "a") == [1, 2, 3])
        #expect(feed.events(of: "b") == [3])
    }

    @Test func aSlowSubscriberCatchesUpPageByPageWhileLiveOnesAreServed() async throws {
        let feed = FeedHarness(pageSize: 500)
        for _ in 1...1200 { feed.commitElsewhere() }
        _ = feed.subscribe("live", since: nil)
        _ = feed.subscribe("slow", since: 0)
        try await feed.answerRead()  // 1…500
        let next = feed.commitHere()
        feed.publish(next)  // 1201 goes to the live subscriber at once
        #expect(feed.events(of: "live") == [1201])
        try await feed.settle()
        #expect(feed.events(of: "slow") == Array(1...1201))
        #expect(feed.readCount == 3)
        // A subscriber that falls out (slow consumer, closed) leaves the others untouched.
        feed.unsubscribe("slow")
        let last = feed.commitHere()
        feed.publish(last)
        #expect(feed.events(of: "live") == [1201, 1202])
        #expect(feed.events(of: "slow").last == 1201)
    }

    @Test func aSinceBeyondTheHeadResetsAndDeliversOnlyNewEvents() {
        let feed = FeedHarness()
        for _ in 1...3 { feed.commitElsewhere() }
        let cursor = feed.subscribe("a", since: 9)  // the store was restored from an older backup
        #expect(cursor == SubscribeCursor(since: 9, head: 3))
        #expect(cursor.reset && cursor.after == 3)
        #expect(feed.pendingReads.isEmpty)
        let four = feed.commitHere()
        feed.publish(four)
        #expect(feed.events(of: "a") == [4])
        #expect(SubscribeCursor(since: nil, head: 3) == SubscribeCursor(since: 3, head: 3))
        #expect(!SubscribeCursor(since: nil, head: 3).reset)
    }

    @Test func receiptsReachStartingCatchingUpAndLiveSubscribers() async throws {
        let feed = FeedHarness()
        for _ in 1...3 { feed.commitElsewhere() }
        _ = feed.subscribe("live", since: nil)
        feed.join("starting")
        _ = feed.subscribe("behind", since: 0)
        feed.receipt("u1@2")
        #expect(feed.received["live"] == ["r:u1@2"])
        #expect(feed.received["behind"] == ["r:u1@2"])
        try await feed.settle()
        #expect(feed.events(of: "behind") == [1, 2, 3])
        #expect(feed.received["starting"] == nil, "nothing before its reply")
        feed.start("starting", since: nil)
        #expect(feed.received["starting"] == ["r:u1@2"])
    }

    @Test func aFailedReadStrandsOnlyTheSubscribersThatNeededIt() async throws {
        let feed = FeedHarness()
        for _ in 1...3 { feed.commitElsewhere() }
        _ = feed.subscribe("live", since: nil)
        _ = feed.subscribe("behind", since: 1)
        try await feed.answerRead(failing: true)
        #expect(!feed.machine.live.contains("behind"))
        #expect(feed.machine.cursor(of: "behind") == nil)
        #expect(feed.machine.live == ["live"])
        let four = feed.commitHere()
        feed.publish(four)
        #expect(feed.events(of: "live") == [4])
    }

    @Test func aGapWhoseReadFailedIsReadAgainAtTheNextSweep() async throws {
        let feed = FeedHarness()
        _ = feed.subscribe("a", since: nil)
        for _ in 1...3 { feed.commitElsewhere() }
        feed.heard(3)
        try await feed.answerRead(failing: true)  // the store was unreachable for that read
        #expect(feed.events(of: "a") == [])
        feed.heard(feed.log.head(feed.timeline))  // the sweep: nothing new, but still behind
        #expect(feed.pendingReads.count == 1)
        try await feed.settle()
        #expect(feed.events(of: "a") == [1, 2, 3])
        feed.heard(3)
        #expect(feed.pendingReads.isEmpty, "caught up: a known head costs nothing")
    }

    /// Peer links carry each event's frame: events committed through two other nodes, whose
    /// frames arrive out of order, are delivered in order without a store read.
    @Test func framesFromOtherNodesAreDeliveredInOrderWithoutAStoreRead() {
        let feed = FeedHarness()
        _ = feed.subscribe("a", since: nil)
        let one = feed.commitElsewhere(), two = feed.commitElsewhere(), three = feed.commitElsewhere()
        feed.publish(two)  // node B's frame came first
        feed.publish(three)
        #expect(feed.events(of: "a") == [])
        feed.publish(one)  // node C's frame
        #expect(feed.events(of: "a") == [1, 2, 3])
        feed.publish(two)  // a duplicate changes nothing
        feed.expireHold()
        #expect(feed.events(of: "a") == [1, 2, 3])
        #expect(feed.pendingReads.isEmpty && feed.readCount == 0)
    }

    /// The store's change notice (PostgreSQL NOTIFY) waits the hold time for the frames on their
    /// way over the peer links, then reads only what never came.
    @Test func aStoreNoticeWaitsForTheFramesThenReadsWhatNeverCame() async throws {
        let feed = FeedHarness()
        _ = feed.subscribe("a", since: nil)
        for _ in 1...3 { feed.commitElsewhere() }
        feed.noticed(3)
        #expect(feed.pendingReads.isEmpty, "no read before the hold time")
        #expect(feed.holdTimerArmed)
        feed.publish(1)
        feed.publish(2)
        #expect(feed.events(of: "a") == [1, 2])
        feed.noticed(3)  // the same notice again: nothing new
        #expect(feed.pendingReads.isEmpty)
        feed.expireHold()  // seq 3's peer message was lost
        #expect(feed.pendingReads.count == 1)
        try await feed.settle()
        #expect(feed.events(of: "a") == [1, 2, 3])
        #expect(feed.readCount == 1)

        feed.commitElsewhere()
        feed.noticed(4)
        feed.publish(4)  // its frame came within the hold time
        feed.expireHold()
        #expect(feed.pendingReads.isEmpty && feed.readCount == 1)
        #expect(feed.events(of: "a") == [1, 2, 3, 4])
    }

    @Test func anEmptiedFeedForgetsWhatItHeld() {
        let feed = FeedHarness()
        _ = feed.subscribe("a", since: nil)
        feed.commitElsewhere()
        let two = feed.commitHere()
        feed.publish(two)
        feed.unsubscribe("a")
        #expect(feed.machine.isEmpty)
    }
}
