import Foundation
import GRDB
import TsunaguCore

/// One post as a value, so that a PostgreSQL group commit runs all of a batch's posts together in
/// two statements whatever their number, instead of four round trips per post: one reads every
/// post's timeline head, its author's role and an earlier post of its `client_msg_id`; one moves
/// the heads, inserts the events and (for a batch of posts alone) sends the change notification.
/// Every post gets exactly the answer `HubStore.post` gives one by one: forbidden, a conflict, the
/// original event of a repeated `client_msg_id` (also within the batch), or a new event with the
/// next seq of its timeline, in the order the posts were queued (docs/storage.md, "Group commit").
///
/// Statements, not rows, are what cost here: postgres-nio runs one statement per round trip, and
/// each round trip through the node's threads and PostgreSQL's process took about 0.3 ms on the
/// benchmark machine, more than the statements' own work.
struct PostWrite: GroupableWrite {
    let store: HubStore
    let timeline: TimelineID
    let author: UserRecord
    let body: String
    let clientMsgID: String
    let at: Int64

    typealias Outcome = (event: TimelineEvent, created: Bool)

    /// A repeated `client_msg_id` answers its original event, unless that went to another timeline.
    static func repeated(_ event: TimelineEvent, on timeline: TimelineID) throws {
        guard event.timeline == timeline else {
            throw StoreError.conflict("client_msg_id was already used on another timeline")
        }
    }

    static func runTogether(_ posts: [PostWrite], in db: Database, alone: Bool) throws -> [Result<any Sendable, any Error>] {
        try posts[0].store.appendPosts(posts, db, notify: alone).map { result in result.map { $0 as any Sendable } }
    }
}

extension HubStore {
    private struct IdempotencyKey: Hashable {
        let author: String
        let clientMsgID: String
    }

    /// The batch's posts in bulk (see `PostWrite`). The caller has locked their timelines' rows,
    /// so the heads read here stay as read until the commit. `notify`: the batch is these posts
    /// alone, so their change notification goes with the inserts instead of in a statement of
    /// its own at the commit (it is still delivered only if the batch commits).
    fileprivate func appendPosts(_ posts: [PostWrite], _ db: Database,
                                 notify: Bool) throws -> [Result<PostWrite.Outcome, any Error>] {
        var outcomes = [Result<PostWrite.Outcome, any Error>?](repeating: nil, count: posts.count)
        let looked = try lookUp(posts, db)
        for (index, post) in posts.enumerated() {
            if let error = Self.refusal(looked.roles[index], .post) { outcomes[index] = .failure(error) }
        }

        // Earlier posts with these client_msg_ids answer their original event; within the batch,
        // the first post of a key is written and the later ones answer it.
        var firstOfKey: [IdempotencyKey: Int] = [:]
        var fresh: [Int] = []
        var repeats: [(index: Int, of: Int)] = []
        for (index, post) in posts.enumerated() where outcomes[index] == nil {
            let key = IdempotencyKey(author: post.author.id.rawValue, clientMsgID: post.clientMsgID)
            if let event = looked.earlier[key] {
                outcomes[index] = Result { try PostWrite.repeated(event, on: post.timeline); return (event, false) }
            } else if let first = firstOfKey[key] {
                repeats.append((index, first))
            } else {
                firstOfKey[key] = index
                fresh.append(index)
            }
        }

        let appended = try appendMessages(fresh.map { posts[$0] }, heads: looked.heads, notify: notify, db)
        for (index, result) in zip(fresh, appended) { outcomes[index] = result.map { ($0, true) } }
        for (index, first) in repeats {
            outcomes[index] = outcomes[first]!.flatMap { original in
                Result { try PostWrite.repeated(original.event, on: posts[index].timeline); return (original.event, false) }
            }
        }
        return outcomes.map { $0! }
    }

    private struct LookedUp {
        /// Each post's author's role in its timeline (nil: not a member, or no such timeline).
        var roles: [TimelineRole?]
        /// Each timeline's head, as locked.
        var heads: [String: Int64]
        /// The events already posted under the posts' (author, client_msg_id) keys.
        var earlier: [IdempotencyKey: TimelineEvent]
    }

    /// One statement for the whole batch: a row per post with its timeline's head, its author's
    /// role there and the event an earlier post of its key wrote (the event columns are NULL when
    /// there is none). A new statement after the locks, so it reads what the lock holders committed.
    private func lookUp(_ posts: [PostWrite], _ db: Database) throws -> LookedUp {
        var arguments: [DatabaseValue] = []
        for (index, post) in posts.enumerated() {
            arguments += [Int64(index).databaseValue, post.timeline.rawValue.databaseValue,
                          post.author.id.rawValue.databaseValue, post.clientMsgID.databaseValue]
        }
        let rows = try Self.fetch(db, prepared: posts.count <= Self.preparedBatches, sql: """
            SELECT v.post_index, t.head AS timeline_head, m.role AS member_role, e.*
            FROM (VALUES \(Self.tuples(posts.count, types: ["bigint", "text", "text", "text"]))) AS v(post_index, timeline_id, user_id, msg_key)
            LEFT JOIN timelines t ON t.id = v.timeline_id
            LEFT JOIN memberships m ON m.timeline_id = v.timeline_id AND m.user_id = v.user_id
            LEFT JOIN events e ON e.client_msg_id = v.msg_key AND e.author_id = v.user_id
            """, arguments: SQLArguments(values: arguments))
        var looked = LookedUp(roles: Array(repeating: nil, count: posts.count), heads: [:], earlier: [:])
        var earlierRows: [Row] = []
        for row in rows {
            let index = Int(row["post_index"] as Int64)
            looked.roles[index] = (row["member_role"] as String?).flatMap(TimelineRole.init)
            if let head = row["timeline_head"] as Int64? { looked.heads[posts[index].timeline.rawValue] = head }
            if row["seq"] as Int64? != nil { earlierRows.append(row) }
        }
        guard !earlierRows.isEmpty else { return looked }
        for (row, event) in zip(earlierRows, try decodeEvents(earlierRows, db)) {
            looked.earlier[IdempotencyKey(author: row["author_id"], clientMsgID: row["client_msg_id"])] = event
        }
        return looked
    }

    /// Appends one message event per post, its seq following `heads` (read under the batch's
    /// locks), in one statement: the timelines' heads move, the events are inserted and, with
    /// `notify`, the change notification is sent (PostgreSQL delivers it at the commit).
    /// Throws `GroupedWriteFallback` when an insert found its `client_msg_id` taken meanwhile
    /// (another node's transaction committed it after the lookup above), or a head was not where
    /// it was read: the committer then rolls the group back and runs the posts one by one, which
    /// settles that case post by post.
    private func appendMessages(_ posts: [PostWrite], heads: [String: Int64], notify: Bool,
                                _ db: Database) throws -> [Result<TimelineEvent, any Error>] {
        guard !posts.isEmpty else { return [] }
        var next: [String: Int64] = [:]
        for (timeline, head) in heads { next[timeline] = head + 1 }

        var results: [Result<TimelineEvent, any Error>] = []
        var inserts: [DatabaseValue] = []
        var counts: [String: Int64] = [:]
        var order: [String] = []
        var appended: [(timeline: String, seq: Int64)] = []
        for post in posts {
            let timeline = post.timeline.rawValue
            guard let seq = next[timeline] else {
                results.append(.failure(StoreError.notFound("no such timeline")))
                continue
            }
            next[timeline] = seq + 1
            if counts[timeline] == nil { order.append(timeline) }
            counts[timeline, default: 0] += 1
            let payload = TimelineEvent.Payload.message(body: post.body, clientMsgID: post.clientMsgID)
            let plaintext = try StoredPayload.encoder.encode(StoredPayload(payload))
            let sealed = Data(cipher.seal([UInt8](plaintext), table: "events", column: "payload", row: "\(timeline)/\(seq)"))
            inserts += [timeline.databaseValue, seq.databaseValue, payload.kind.rawValue.databaseValue,
                        post.author.id.rawValue.databaseValue, post.at.databaseValue, post.clientMsgID.databaseValue,
                        sealed.databaseValue]
            appended.append((timeline, seq))
            results.append(.success(TimelineEvent(timeline: post.timeline, seq: seq, atMillis: post.at,
                                                  author: post.author.person, payload: payload)))
        }
        guard !appended.isEmpty else { return results }

        var arguments: [DatabaseValue] = []
        for timeline in order { arguments += [timeline.databaseValue, counts[timeline]!.databaseValue] }
        arguments += inserts
        let payloads = notify ? CommitNotice.payloads(appended) : []
        for payload in payloads { arguments += [PostgresBackend.notifyChannel.databaseValue, payload.databaseValue] }
        let notified = payloads.isEmpty ? "" : """
            , notified AS (\(Array(repeating: "SELECT pg_notify(?::text, ?::text)", count: payloads.count).joined(separator: " UNION ALL ")))
            """
        let rows = try Self.fetch(db, prepared: posts.count <= Self.preparedBatches, sql: """
            WITH moved AS (
                UPDATE timelines AS t SET head = t.head + v.n
                FROM (VALUES \(Self.tuples(order.count, types: ["text", "bigint"]))) AS v(id, n)
                WHERE t.id = v.id RETURNING t.id, t.head),
            written AS (
                INSERT INTO events (timeline_id, seq, kind, author_id, at_ms, client_msg_id, payload)
                VALUES \(Self.tuples(appended.count, types: ["text", "bigint", "text", "text", "bigint", "text", "bytea"]))
                ON CONFLICT DO NOTHING RETURNING seq)\(notified)
            SELECT id AS moved_id, head AS moved_head, NULL AS written_seq FROM moved
            UNION ALL SELECT NULL, NULL, seq FROM written
            """ + (payloads.isEmpty ? "" : "\nUNION ALL SELECT NULL, NULL, NULL FROM notified"), arguments: SQLArguments(values: arguments))
        var written = 0
        for row in rows {
            if row["written_seq"] as Int64? != nil { written += 1 }
            if let id = row["moved_id"] as String?, row["moved_head"] as Int64? != next[id]! - 1 {
                throw GroupedWriteFallback()
            }
        }
        guard written == appended.count else { throw GroupedWriteFallback() }
        // With `notify`, the notification is on its way already: the commit sends none for these.
        if !notify { for (timeline, seq) in appended { db.noteAppended(timeline: timeline, seq: seq) } }
        return results
    }

    /// `(?::bigint, ?::text), (?::bigint, ?::text)`: `count` row values of typed placeholders
    /// (a prepared statement's parameter types are fixed when it is prepared).
    private static func tuples(_ count: Int, types: [String]) -> String {
        let tuple = "(" + types.map { "?::\($0)" }.joined(separator: ", ") + ")"
        return Array(repeating: tuple, count: count).joined(separator: ", ")
    }

    /// Batches of up to this many posts run their statements prepared: their texts are few, and
    /// a lone post's statements are where parsing and planning showed (`PreparedStatements`).
    /// Larger batches share that cost among their posts.
    static let preparedBatches = 4

    private static func fetch(_ db: Database, prepared: Bool, sql: String, arguments: SQLArguments) throws -> [Row] {
        prepared ? try db.fetchAllPrepared(sql: sql, arguments: arguments) : try Row.fetchAll(db, sql: sql, arguments: arguments)
    }
}
