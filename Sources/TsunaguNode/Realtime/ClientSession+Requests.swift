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
            try subscribe(request.id, timeline: timeline, since: since, user: user)
        case .unsubscribe(let timeline):
            guard try await store.role(of: user.id, in: timeline) != nil else { throw HubError.notAMember }
            if let subscription = removeSubscription(timeline: timeline) {
                context.hub.remove(subscription)
                subscription.eventLoop.execute { subscription.end() }
            }
            reply(ServerMessage.ok(re: request.id))
        case .post(let timeline, let body, let clientMsgID):
            guard context.postLimiter.allow(user: user.id.rawValue, nowMillis: context.clock.nowMillis) else {
                throw HubError(code: .rateLimited, message: "too many posts; at most \(context.postLimiter.burst) per \(context.postLimiter.windowMillis / 1000) s")
            }
            let started = NIODeadline.now()
            let (event, created) = try await store.post(timeline: timeline, author: user, body: body,
                                                        clientMsgID: clientMsgID)
            context.metrics.commitSeconds.record(Self.seconds(since: started))
            if created {
                context.committed(event)
                context.monitor.posted(by: user, timeline: timeline)
            }
            replyCommitted(request.id, event)
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
    /// On the event loop (`runInline`) or the request task; the store read runs on that thread.
    func subscribe(_ id: Int64, timeline: TimelineID, since: Int64?, user: UserRecord) throws {
        let subscription = try addSubscription(timeline: timeline, user: user.id)
        context.hub.join(subscription)
        guard !isTransportClosed else {
            // The connection closed meanwhile (its subscriptions may have been ended already).
            context.hub.remove(subscription)
            removeSubscription(subscription)
            return
        }
        let start: HubStore.SubscriptionStart
        do {
            start = try context.store.subscriptionStart(user: user.id, timeline: timeline)
        } catch {
            context.hub.remove(subscription)
            removeSubscription(subscription)
            throw error
        }
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
        context.monitor.timelineRead(by: user, timeline: timeline)
        recordRead(timeline)
    }

    /// The subscription's audit entry (coalesced: one per session and timeline per window),
    /// written off the event loop; a failure is logged and retried by the next subscribe.
    private func recordRead(_ timeline: TimelineID) {
        guard let session else { return }
        let context = context
        let source = source
        Task {
            do {
                try await context.patientReads.record("timeline.subscribe", session: session, timeline: timeline,
                                                      source: source, context: context)
            } catch {
                context.logger.error("audit entry of a subscription not recorded", metadata: ["tsunagu.error": "\(error)"])
            }
        }
    }
}
