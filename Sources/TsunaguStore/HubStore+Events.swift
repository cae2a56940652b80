import Foundation
import GRDB
import TsunaguCore

extension HubStore {
    /// Appends one event inside the caller's write transaction. The seq is taken by incrementing
    /// the timeline's head in one statement: on SQLite under the write lock, on PostgreSQL under the
    /// row lock that the UPDATE takes and holds to commit, so writers of one timeline on any number
    /// of nodes take turns and seqs stay dense, unique and in commit order.
    ///
    /// Throws `DuplicateClientMessage` (after the head moved: the caller's savepoint undoes it) when
    /// another transaction committed the same (author, client_msg_id) meanwhile — possible only on
    /// PostgreSQL, where two nodes can check for it at once; PostgreSQL makes the second insert
    /// wait for the first's commit, then skips it.
    func appendEvent(_ db: Database, timeline: TimelineID, author: Person, clientMsgID: String?,
                     payload: TimelineEvent.Payload, at: Int64) throws -> TimelineEvent {
        // Cached statements on the write path: compiling a statement (SQLite's parser and GRDB's
        // authorizer) cost more than running it, once per post.
        guard let seq = try Int64.fetchOne(db, sql: "UPDATE timelines SET head = head + 1 WHERE id = ? RETURNING head",
                                           arguments: [timeline.rawValue], cached: true) else {
            throw StoreError.notFound("no such timeline")
        }
        let row = "\(timeline.rawValue)/\(seq)"
        let plaintext = try StoredPayload.encoder.encode(StoredPayload(payload))
        let sealed = Data(cipher.seal([UInt8](plaintext), table: "events", column: "payload", row: row))
        try db.execute(sql: """
            INSERT INTO events (timeline_id, seq, kind, author_id, at_ms, client_msg_id, payload)
            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """, arguments: [timeline.rawValue, seq, payload.kind.rawValue, author.id.rawValue, at, clientMsgID, sealed],
            cached: true)
        if db.changesCount == 0 { throw DuplicateClientMessage() }
        db.noteAppended(timeline: timeline.rawValue, seq: seq)
        return TimelineEvent(timeline: timeline, seq: seq, atMillis: at, author: author, payload: payload)
    }

    struct DuplicateClientMessage: Error {}

    /// The event an author posted with `clientMsgID`, if any.
    func postedEvent(_ db: Database, author: UserID, clientMsgID: String) throws -> TimelineEvent? {
        guard let existing = try Row.fetchOne(db, sql: "SELECT * FROM events WHERE author_id = ? AND client_msg_id = ?",
                                              arguments: [author.rawValue, clientMsgID], cached: true) else { return nil }
        return try decodeEvents([existing], db)[0]
    }

    /// Posts a message. Idempotent per (author, client_msg_id): a retry returns the original event
    /// with `created == false` and writes nothing — also when both arrive in the same group commit,
    /// since the second runs after the first's savepoint inside the one transaction.
    public func post(timeline: TimelineID, author: UserRecord, body: String, clientMsgID: String) async throws
        -> (event: TimelineEvent, created: Bool)
    {
        try await queuePost(timeline: timeline, author: author, body: body, clientMsgID: clientMsgID).value
    }

    /// `post`, queued for the next group commit before it returns: posts queued one after another
    /// get their seqs in that order. The caller awaits the outcome (`QueuedWrite.value`).
    public func queuePost(timeline: TimelineID, author: UserRecord, body: String, clientMsgID: String)
        -> QueuedWrite<(event: TimelineEvent, created: Bool)>
    {
        let now = Self.nowMillis()
        let write = PostWrite(store: self, timeline: timeline, author: author, body: body, clientMsgID: clientMsgID,
                              at: now)
        // The committer has locked the timeline for the batch (`writeGrouped(timeline:)`): the
        // membership check holds until commit on PostgreSQL too. There, a batch's posts run
        // together (`PostWrite`); this is the one-by-one path (SQLite, and PostgreSQL's fallback).
        return queueGrouped(timeline: timeline, groupable: write) { [self] db in
            try Self.authorize(db, user: author.id, timeline: timeline, .post)
            func existing(_ event: TimelineEvent) throws -> (TimelineEvent, Bool) {
                try PostWrite.repeated(event, on: timeline)
                return (event, false)
            }
            if let event = try postedEvent(db, author: author.id, clientMsgID: clientMsgID) { return try existing(event) }
            func append() throws -> TimelineEvent {
                try appendEvent(db, timeline: timeline, author: author.person, clientMsgID: clientMsgID,
                                payload: .message(body: body, clientMsgID: clientMsgID), at: now)
            }
            // SQLite holds the write lock since the check above: no other post can come between,
            // and the hot path spends no extra savepoint.
            guard db.dialect == .postgres else { return (try append(), true) }
            var appended: TimelineEvent?
            do {
                try db.inSavepoint { appended = try append() }
            } catch is DuplicateClientMessage {
                // Another node's transaction committed it after the check above: that post stands.
                guard let event = try postedEvent(db, author: author.id, clientMsgID: clientMsgID) else {
                    throw StoreError.conflict("client_msg_id is being used by another post")
                }
                return try existing(event)
            }
            return (appended!, true)
        }
    }

    /// Adds or removes a reaction to a message of the timeline.
    public func react(timeline: TimelineID, author: UserRecord, targetSeq: Int64, reaction: String,
                      op: TimelineEvent.ReactionOp) async throws -> TimelineEvent {
        let now = Self.nowMillis()
        return try await writeGrouped(timeline: timeline) { [self] db in
            try Self.authorize(db, user: author.id, timeline: timeline, .reacting(with: reaction))
            let kind = try String.fetchOne(db, sql: "SELECT kind FROM events WHERE timeline_id = ? AND seq = ?",
                                           arguments: [timeline.rawValue, targetSeq], cached: true)
            guard kind == TimelineEvent.Kind.message.rawValue else {
                throw StoreError.notFound("target_seq is not a message of this timeline")
            }
            return try appendEvent(db, timeline: timeline, author: author.person, clientMsgID: nil,
                                   payload: .reaction(targetSeq: targetSeq, reaction: reaction, op: op), at: now)
        }
    }

    /// Logs the start or end of a call. The end event carries the start time and the duration.
    public func call(timeline: TimelineID, author: UserRecord, callID: String, op: TimelineEvent.CallOp) async throws
        -> TimelineEvent
    {
        let now = Self.nowMillis()
        return try await writeGrouped(timeline: timeline) { [self] db in
            // The call's state is checked under the batch's lock of the timeline (PostgreSQL).
            try Self.authorize(db, user: author.id, timeline: timeline, .startOrEndCall)
            let existing = try Row.fetchOne(db, sql: """
                SELECT started_by, started_at, ended_at FROM call_logs WHERE timeline_id = ? AND call_id = ?
                """, arguments: [timeline.rawValue, callID])
            switch op {
            case .start:
                if existing != nil { throw StoreError.conflict("call_id was already started") }
                let event = try appendEvent(db, timeline: timeline, author: author.person, clientMsgID: nil,
                                            payload: .call(callID: callID, op: .start, startedAtMillis: nil,
                                                           durationSeconds: nil), at: now)
                try db.execute(sql: """
                    INSERT INTO call_logs (timeline_id, call_id, started_by, started_at, start_seq) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [timeline.rawValue, callID, author.id.rawValue, now, event.seq])
                return event
            case .end:
                guard let existing else { throw StoreError.notFound("no call with that call_id was started") }
                if (existing["started_by"] as String) != author.id.rawValue {
                    try Self.authorize(db, user: author.id, timeline: timeline, .endOthersCall)
                }
                if (existing["ended_at"] as Int64?) != nil { throw StoreError.conflict("call already ended") }
                let startedAt: Int64 = existing["started_at"]
                let event = try appendEvent(db, timeline: timeline, author: author.person, clientMsgID: nil,
                                            payload: .call(callID: callID, op: .end, startedAtMillis: startedAt,
                                                           durationSeconds: max(0, (now - startedAt) / 1000)), at: now)
                try db.execute(sql: "UPDATE call_logs SET ended_at = ?, end_seq = ? WHERE timeline_id = ? AND call_id = ?",
                               arguments: [now, event.seq, timeline.rawValue, callID])
                return event
            }
        }
    }

    /// Moves the user's read marker forward to `seq`; returns false when it was already there or
    /// beyond (markers never move back).
    public func markRead(timeline: TimelineID, user: UserID, seq: Int64) async throws -> Bool {
        let now = Self.nowMillis()
        return try await writeGrouped(timeline: timeline) { db in
            try Self.authorize(db, user: user, timeline: timeline, .markRead)
            guard seq <= (try Self.head(db, timeline)) else {
                throw StoreError.invalid("seq: beyond the timeline's head")
            }
            try db.execute(sql: """
                INSERT INTO read_receipts (timeline_id, user_id, seq, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (timeline_id, user_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
                WHERE excluded.seq > read_receipts.seq
                """, arguments: [timeline.rawValue, user.rawValue, seq, now], cached: true)
            return db.changesCount > 0
        }
    }

    public func receipts(timeline: TimelineID) async throws -> [ReadReceipt] {
        try await read { db in try Self.receipts(db, timeline) }
    }

    /// Every member's read marker of the timeline, by user id.
    static func receipts(_ db: Database, _ timeline: TimelineID) throws -> [ReadReceipt] {
        try Row.fetchAll(db, sql: """
            SELECT r.user_id, r.seq, u.profession FROM read_receipts r JOIN users u ON u.id = r.user_id
            WHERE r.timeline_id = ? ORDER BY r.user_id
            """, arguments: [timeline.rawValue], cached: true).map {
            ReadReceipt(user: UserID(unchecked: $0["user_id"]), seq: $0["seq"],
                        profession: Profession(rawValue: $0["profession"] ?? "") ?? .other)
        }
    }

    /// A history page for a member: events with seq > `after`, oldest first.
    public func history(timeline: TimelineID, user: UserID, after: Int64, limit: Int) async throws
        -> (events: [TimelineEvent], head: Int64)
    {
        try await read { [self] db in
            try Self.authorize(db, user: user, timeline: timeline, .read)
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM events WHERE timeline_id = ? AND seq > ? ORDER BY seq LIMIT ?
                """, arguments: [timeline.rawValue, after, limit])
            return (try decodeEvents(rows, db), try Self.head(db, timeline))
        }
    }

    /// Events in (`after`, `through`] for replay and gap repair. The caller has already checked that
    /// the reader may see the timeline (at subscribe).
    public func events(timeline: TimelineID, after: Int64, through: Int64, limit: Int) async throws -> [TimelineEvent] {
        try await read { [self] db in
            // Cached: every gap repair and every peer-notified delivery runs this read.
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM events WHERE timeline_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?
                """, arguments: [timeline.rawValue, after, through, limit], cached: true)
            return try decodeEvents(rows, db)
        }
    }

    public func head(timeline: TimelineID) async throws -> Int64 {
        try await read { db in try Self.head(db, timeline) }
    }

    func decodeEvents(_ rows: [Row], _ db: Database) throws -> [TimelineEvent] {
        var decoded: [(Row, TimelineEvent.Kind, StoredPayload)] = []
        var ids = Set<UserID>()
        for row in rows {
            let timeline: String = row["timeline_id"]
            let seq: Int64 = row["seq"]
            let blob: Data = row["payload"]
            guard let kind = TimelineEvent.Kind(rawValue: row["kind"]),
                let plaintext = try? cipher.open([UInt8](blob), table: "events", column: "payload",
                                                  row: "\(timeline)/\(seq)"),
                let stored = try? StoredPayload.decoder.decode(StoredPayload.self, from: Data(plaintext))
            else { throw StoreError.corrupt("events.payload") }
            ids.insert(UserID(unchecked: row["author_id"]))
            if let user = stored.referencedUser { ids.insert(user) }
            decoded.append((row, kind, stored))
        }
        let people = try people(ids, db)
        return try decoded.map { row, kind, stored in
            let author = UserID(unchecked: row["author_id"])
            guard let payload = stored.payload(kind: kind, people: people) else {
                throw StoreError.corrupt("events.payload")
            }
            return TimelineEvent(timeline: TimelineID(unchecked: row["timeline_id"]), seq: row["seq"],
                                 atMillis: row["at_ms"], author: people[author] ?? Person(id: author, name: ""),
                                 payload: payload)
        }
    }
}
