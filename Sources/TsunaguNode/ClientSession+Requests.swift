import NIOCore
import TsunaguCore
import TsunaguStore

extension ClientSession {
    /// Runs one authenticated request. Every operation on a timeline is authorized by the store
    /// inside the transaction that performs it (TimelineAccessPolicy), so a member removed a
    /// moment ago cannot slip a write in.
    func perform(_ request: ClientRequest, as user: UserRecord) async throws {
        let store = context.store
        let hub = context.hub
        let time = context.time
        switch request.command {
        case .auth:
            preconditionFailure("auth is handled before perform")
        case .ping:
            reply(ServerMessage.ok(re: request.id) { $0.field("at", time.format(millis: WireTime.nowMillis())) })
        case .subscribe(let timeline, let since):
            try subscribe(request.id, timeline: timeline, since: since, user: user)
        case .unsubscribe(let timeline):
            guard try await store.role(of: user.id, in: timeline) != nil else {
                throw StoreError.forbidden("not a member of this timeline")
            }
            if let subscription = subscriptions.withLock({ $0.removeValue(forKey: timeline) }) {
                hub.remove(subscription)
                subscription.eventLoop.execute { subscription.end() }
            }
            reply(ServerMessage.ok(re: request.id))
        case .post(let timeline, let body, let clientMsgID):
            let (event, created) = try await store.post(timeline: timeline, author: user, body: body,
                                                        clientMsgID: clientMsgID)
            if created { context.committed(event) }
            replyCommitted(request.id, event)
        case .react(let timeline, let targetSeq, let reaction, let op):
            let event = try await store.react(timeline: timeline, author: user, targetSeq: targetSeq,
                                              reaction: reaction, op: op)
            context.committed(event)
            replyCommitted(request.id, event)
        case .call(let timeline, let callID, let op):
            let event = try await store.call(timeline: timeline, author: user, callID: callID, op: op)
            context.committed(event)
            replyCommitted(request.id, event)
        case .read(let timeline, let seq):
            if try await store.markRead(timeline: timeline, user: user.id, seq: seq) {
                context.receiptMoved(timeline: timeline, user: user.id, seq: seq)
            }
            reply(ServerMessage.ok(re: request.id))
        }
    }

    private func replyCommitted(_ id: Int64, _ event: TimelineEvent) {
        let at = context.time.format(millis: event.atMillis)
        reply(ServerMessage.ok(re: id) { w in
            w.field("seq", event.seq)
            w.field("at", at)
        })
    }

    /// PROTOCOL.md §2: the subscription is registered with the hub *before* the head is read, so
    /// every event committed after that read reaches it live, and everything up to the head comes
    /// from the store: no gap between replay and live delivery (duplicates are dropped by seq).
    /// On the event loop (`runInline`) or the request task; the store read runs on that thread.
    func subscribe(_ id: Int64, timeline: TimelineID, since: Int64?, user: UserRecord) throws {
        let subscription = try register(timeline: timeline, user: user)
        let start: HubStore.SubscriptionStart
        do {
            start = try context.store.subscriptionStart(user: user.id, timeline: timeline)
        } catch {
            unregister(subscription)
            throw error
        }
        begin(subscription, answering: id, since: since, start: start)
    }

    /// A new subscription in this session's table and the hub; refused if one is live already.
    private func register(timeline: TimelineID, user: UserRecord) throws -> Subscription {
        let hub = context.hub
        let subscription = Subscription(
            timeline: timeline, user: user.id, connection: connection, store: context.store, time: context.time,
            onEnd: { [weak self] ended in
                hub.remove(ended)
                self?.subscriptions.withLock { subs in
                    if subs[ended.timeline] === ended { subs[ended.timeline] = nil }
                }
            })
        let inserted = subscriptions.withLock { subs in
            if subs[timeline] != nil { return false }
            subs[timeline] = subscription
            return true
        }
        guard inserted else {
            throw StoreError.conflict("already subscribed to this timeline; unsubscribe first")
        }
        hub.add(subscription)
        return subscription
    }

    private func unregister(_ subscription: Subscription) {
        context.hub.remove(subscription)
        subscriptions.withLock { if $0[subscription.timeline] === subscription { $0[subscription.timeline] = nil } }
    }

    /// Answers `subscribe` and starts delivery after `since` (or the head).
    private func begin(_ subscription: Subscription, answering id: Int64, since: Int64?, start: HubStore.SubscriptionStart) {
        let (head, receipts) = start
        let timeline = subscription.timeline
        // A since beyond the head means the store was restored from an older backup: the client
        // must drop what it holds and reload; nothing is skipped or renumbered silently.
        let reset = (since ?? 0) > head
        reply(ServerMessage.ok(re: id) { w in
            w.field("head", head)
            w.key("receipts")
            w.beginArray()
            for receipt in receipts {
                w.beginObject()
                w.field("user", receipt.user.rawValue)
                w.field("seq", receipt.seq)
                w.endObject()
            }
            w.endArray()
            if reset { w.field("reset", true) }
        })
        context.hub.anchor(timeline, at: head)
        let after = (since == nil || reset) ? head : since!
        subscription.eventLoop.execute { subscription.begin(after: after, through: head) }
    }
}
