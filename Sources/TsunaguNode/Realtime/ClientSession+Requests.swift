import NIOCore
import TsunaguCore
import TsunaguRealtime
import TsunaguStore

extension ClientSession {
    /// Runs one authenticated request. Every operation on a timeline is authorized by the store
    /// inside the transaction that performs it (TimelineAccessPolicy), so a member removed a
    /// moment ago cannot slip a write in.
    func perform(_ request: ClientRequest, as user: UserRecord) async throws {
        let store = context.store
        let time = context.time
        switch request.command {
        case .auth:
            preconditionFailure("auth is handled before perform")
        case .ping:
            reply(ServerMessage.ok(re: request.id) { $0.field("at", time.format(millis: context.clock.nowMillis)) })
        case .subscribe(let timeline, let since):
            try await subscribe(request.id, timeline: timeline, since: since, user: user)
        case .unsubscribe(let timeline):
            guard try await store.role(of: user.id, in: timeline) != nil else { throw HubError.notAMember }
            if let subscription = removeSubscription(timeline: timeline) {
                context.hub.remove(subscription)
                subscription.eventLoop.execute { subscription.end() }
            }
            reply(ServerMessage.ok(re: request.id))
        case .post:
            try await finishPost(try queuePost(request, as: user))
        case .react(let timeline, let targetSeq, let reaction, let op):
            let started = NIODeadline.now()
            let event = try await store.react(timeline: timeline, author: user, targetSeq: targetSeq,
                                              reaction: reaction, op: op)
            context.metrics.commitSeconds.record(Self.seconds(since: started))
            context.committed(event)
            replyCommitted(request.id, event)
        case .call(let timeline, let callID, let op):
            let started = NIODeadline.now()
            let event = try await store.call(timeline: timeline, author: user, callID: callID, op: op)
            context.metrics.commitSeconds.record(Self.seconds(since: started))
            context.committed(event)
            replyCommitted(request.id, event)
        case .read(let timeline, let seq):
            if try await store.markRead(timeline: timeline, user: user.id, seq: seq) {
                context.receiptMoved(timeline: timeline, user: user.id, profession: user.profession, seq: seq)
            }
            reply(ServerMessage.ok(re: request.id))
        }
    }

    /// A post queued for the next group commit (`queuePost`), answered by `finishPost`.
    struct QueuedPost {
        let request: ClientRequest
        let timeline: TimelineID
        let user: UserRecord
        let write: QueuedWrite<(event: TimelineEvent, created: Bool)>
        let started: NIODeadline
    }

    /// Checks the post rate and queues the post for the store's next group commit (the store
    /// authorizes it there, in the transaction). Posts queued one after another get their seqs in
    /// that order.
    func queuePost(_ request: ClientRequest, as user: UserRecord) throws -> QueuedPost {
        guard case .post(let timeline, let body, let clientMsgID) = request.command else {
            preconditionFailure("queuePost takes posts")
        }
        guard context.postLimiter.allow(user: user.id.rawValue, nowMillis: context.clock.nowMillis) else {
            throw HubError(code: .rateLimited, message: "too many posts; at most \(context.postLimiter.burst) per \(context.postLimiter.windowMillis / 1000) s")
        }
        let started = NIODeadline.now()
        let write = context.store.queuePost(timeline: timeline, author: user, body: body, clientMsgID: clientMsgID)
        return QueuedPost(request: request, timeline: timeline, user: user, write: write, started: started)
    }

    /// Waits for the post's commit, announces it and answers.
    func finishPost(_ post: QueuedPost) async throws {
        let (event, created) = try await post.write.value
        context.metrics.commitSeconds.record(Self.seconds(since: post.started))
        if created {
            context.committed(event)
            context.monitor.posted(by: post.user, timeline: post.timeline)
        }
        replyCommitted(post.request.id, event)
    }

    static func seconds(since start: NIODeadline) -> Double {
        Double((NIODeadline.now() - start).nanoseconds) / 1e9
    }

    private func replyCommitted(_ id: Int64, _ event: TimelineEvent) {
        let at = context.time.format(millis: event.atMillis)
        reply(ServerMessage.ok(re: id) { w in
            w.field("seq", event.seq)
            w.field("at", at)
        })
    }

    /// The subscription joins its timeline's feed *before* the head is read, so every event
    /// committed after that read reaches it live, and everything up to the head comes from the
    /// store: no gap between replay and live delivery (docs/protocol.md, "Ordering and resume").
    /// No patient data goes out before the read's audit entry is committed (docs/security.md,
    /// "Audit log"): on the event loop (`runInline`, the store read on that thread) only when this
    /// session's entry for the timeline is committed already; otherwise from the request task,
    /// which writes the entry after the store has authorized the read and before the answer,
    /// and refuses the subscription if the entry cannot be written.
    func subscribe(_ id: Int64, timeline: TimelineID, since: Int64?, user: UserRecord) async throws {
        guard let session else { throw HubError.unauthenticated("send auth first") }
        guard let subscription = try joinFeed(timeline: timeline, user: user) else { return }
        let start: HubStore.SubscriptionStart
        do {
            // The store's async read: a blocking read here would hold one of the few cooperative
            // threads while it waits for a reader connection (a CI run deadlocked so).
            start = try await context.store.subscriptionStart(user: user.id, timeline: timeline)
            try await context.patientReads.record("timeline.subscribe", session: session, timeline: timeline,
                                                  source: source, context: context)
        } catch {
            abandon(subscription)
            throw error
        }
        startSubscription(id, subscription, start: start, since: since, user: user)
    }

    /// The same, on the event loop, for a read whose entry is committed already
    /// (`PatientDataReads.isRecorded`): the store read runs on that thread.
    func subscribeRecorded(_ id: Int64, timeline: TimelineID, since: Int64?, user: UserRecord) throws {
        guard let subscription = try joinFeed(timeline: timeline, user: user) else { return }
        let start: HubStore.SubscriptionStart
        do {
            start = try context.store.subscriptionStart(user: user.id, timeline: timeline)
        } catch {
            abandon(subscription)
            throw error
        }
        startSubscription(id, subscription, start: start, since: since, user: user)
    }

    /// Joins the feed before the store read (see `subscribe`); nil when the connection closed
    /// meanwhile.
    private func joinFeed(timeline: TimelineID, user: UserRecord) throws -> Subscription? {
        let subscription = try addSubscription(timeline: timeline, user: user.id)
        context.hub.join(subscription)
        guard !isTransportClosed else {
            // The connection closed meanwhile (its subscriptions may have been ended already).
            abandon(subscription)
            return nil
        }
        return subscription
    }

    private func abandon(_ subscription: Subscription) {
        context.hub.remove(subscription)
        removeSubscription(subscription)
    }

    /// Answers with the head and receipts and starts delivery.
    private func startSubscription(_ id: Int64, _ subscription: Subscription, start: HubStore.SubscriptionStart,
                                   since: Int64?, user: UserRecord) {
        let cursor = SubscribeCursor(since: since, head: start.head)
        reply(ServerMessage.ok(re: id) { w in
            w.field("head", start.head)
            w.objects("receipts", start.receipts) { w, receipt in
                w.field("user", receipt.user.rawValue)
                w.field("seq", receipt.seq)
                w.field("profession", receipt.profession.rawValue)
            }
            if cursor.reset { w.field("reset", true) }
        })
        context.hub.start(subscription, after: cursor.after, head: start.head)
        context.monitor.timelineRead(by: user, timeline: subscription.timeline)
    }
}
