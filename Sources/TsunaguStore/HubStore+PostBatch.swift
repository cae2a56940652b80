import Foundation
import GRDB
import TsunaguCore

/// One post as a value, so that a PostgreSQL group commit runs all of a batch's posts together:
/// four statements for the whole batch (the members' roles, the earlier posts of these
/// `client_msg_id`s, the heads, the inserts) instead of four round trips per post. Every post gets
/// exactly the answer `HubStore.post` gives one by one: forbidden, a conflict, the original event
/// of a repeated `client_msg_id` (also within the batch), or a new event with the next seq of its
/// timeline, in the order the posts were queued (docs/storage.md, "Group commit").
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

    static func runTogether(_ posts: [PostWrite], in db: Database) throws -> [Result<any Sendable, any Error>] {
        try posts[0].store.appendPosts(posts, db).map { result in result.map { $0 as any Sendable } }
    }
}

extension HubStore {
    private struct IdempotencyKey: Hashable {
        let author: String
        let clientMsgID: String
    }

    /// The batch's posts in bulk (see `PostWrite`). The caller has locked their timelines' rows.
    fileprivate func appendPosts(_ posts: [PostWrite], _ db: Database) throws -> [Result<PostWrite.Outcome, any Error>] {
        var outcomes = [Result<PostWrite.Outcome, any Error>?](repeating: nil, count: posts.count)

        let roles = try Self.roles(db, posts.map { ($0.timeline.rawValue, $0.author.id.rawValue) })
        for (index, post) in posts.enumerated() {
            let role = roles[Pair(timeline: post.timeline.rawValue, user: post.author.id.rawValue)]
            if let error = Self.refusal(role, .post) { outcomes[index] = .failure(error) }
        }

        // Earlier posts with these client_msg_ids answer their original event; within the batch,
        // the first post of a key is written and the later ones answer it.
        let keys = posts.indices.filter { outcomes[$0] == nil }.map {
            IdempotencyKey(author: posts[$0].author.id.rawValue, clientMsgID: posts[$0].clientMsgID)
        }
        let earlier = try postedEvents(db, Set(keys))
        var firstOfKey: [IdempotencyKey: Int] = [:]
        var fresh: [Int] = []
        var repeats: [(index: Int, of: Int)] = []
        for (index, post) in posts.enumerated() where outcomes[index] == nil {
            let key = IdempotencyKey(author: post.author.id.rawValue, clientMsgID: post.clientMsgID)
            if let event = earlier[key] {
                outcomes[index] = Result { try PostWrite.repeated(event, on: post.timeline); return (event, false) }
            } else if let first = firstOfKey[key] {
                repeats.append((index, first))
            } else {
                firstOfKey[key] = index
                fresh.append(index)
            }
        }

        let appended = try appendMessages(fresh.map { posts[$0] }, db)
        for (index, result) in zip(fresh, appended) { outcomes[index] = result.map { ($0, true) } }
        for (index, first) in repeats {
            outcomes[index] = outcomes[first]!.flatMap { original in
                Result { try PostWrite.repeated(original.event, on: posts[index].timeline); return (original.event, false) }
            }
        }
        return outcomes.map { $0! }
    }

    /// Appends one message event per post: one UPDATE takes every timeline's seqs, one INSERT
    /// writes the events. Throws `GroupedWriteFallback` when an insert found its `client_msg_id`
    /// taken meanwhile (another node's transaction committed it after the lookup above): the
    /// committer then runs the posts one by one, which settles that case post by post.
    private func appendMessages(_ posts: [PostWrite], _ db: Database) throws -> [Result<TimelineEvent, any Error>] {
        guard !posts.isEmpty else { return [] }
        var counts: [String: Int64] = [:]
        var order: [String] = []
        for post in posts {
            if counts[post.timeline.rawValue] == nil { order.append(post.timeline.rawValue) }
            counts[post.timeline.rawValue, default: 0] += 1
        }
        var arguments: [DatabaseValue] = []
        for timeline in order { arguments += [timeline.databaseValue, counts[timeline]!.databaseValue] }
        let rows = try Row.fetchAll(db, sql: """
            UPDATE timelines AS t SET head = t.head + v.n
            FROM (VALUES \(Self.tuples(order.count, width: 2))) AS v(id, n)
            WHERE t.id = v.id RETURNING t.id, t.head
            """, arguments: SQLArguments(values: arguments))
        // The next seq of each timeline: its new head minus what this batch appends, plus one.
        var next: [String: Int64] = [:]
        for row in rows {
            let id: String = row["id"]
            next[id] = (row["head"] as Int64) - counts[id]! + 1
        }

        var results: [Result<TimelineEvent, any Error>] = []
        var inserts: [DatabaseValue] = []
        var inserted = 0
        for post in posts {
            guard let seq = next[post.timeline.rawValue] else {
                results.append(.failure(StoreError.notFound("no such timeline")))
                continue
            }
            next[post.timeline.rawValue] = seq + 1
            let payload = TimelineEvent.Payload.message(body: post.body, clientMsgID: post.clientMsgID)
            let plaintext = try StoredPayload.encoder.encode(StoredPayload(payload))
            let sealed = Data(cipher.seal([UInt8](plaintext), table: "events", column: "payload",
                                          row: "\(post.timeline.rawValue)/\(seq)"))
            inserts += [post.timeline.rawValue.databaseValue, seq.databaseValue, payload.kind.rawValue.databaseValue,
                        post.author.id.rawValue.databaseValue, post.at.databaseValue, post.clientMsgID.databaseValue,
                        sealed.databaseValue]
            inserted += 1
            results.append(.success(TimelineEvent(timeline: post.timeline, seq: seq, atMillis: post.at,
                                                  author: post.author.person, payload: payload)))
        }
        guard inserted > 0 else { return results }
        let written = try Row.fetchAll(db, sql: """
            INSERT INTO events (timeline_id, seq, kind, author_id, at_ms, client_msg_id, payload)
            VALUES \(Self.tuples(inserted, width: 7)) ON CONFLICT DO NOTHING RETURNING seq
            """, arguments: SQLArguments(values: inserts))
        guard written.count == inserted else { throw GroupedWriteFallback() }
        for case .success(let event) in results { db.noteAppended(timeline: event.timeline.rawValue, seq: event.seq) }
        return results
    }

    private struct Pair: Hashable {
        let timeline: String
        let user: String
    }

    /// The role of each (timeline, user) pair that is a membership, in one statement.
    private static func roles(_ db: Database, _ pairs: [(String, String)]) throws -> [Pair: TimelineRole] {
        let unique = Array(Set(pairs.map { Pair(timeline: $0.0, user: $0.1) }))
        guard !unique.isEmpty else { return [:] }
        var arguments: [DatabaseValue] = []
        for pair in unique { arguments += [pair.timeline.databaseValue, pair.user.databaseValue] }
        let rows = try Row.fetchAll(db, sql: """
            SELECT timeline_id, user_id, role FROM memberships
            WHERE (timeline_id, user_id) IN (\(tuples(unique.count, width: 2)))
            """, arguments: SQLArguments(values: arguments))
        var roles: [Pair: TimelineRole] = [:]
        for row in rows {
            guard let role = TimelineRole(rawValue: row["role"]) else { continue }
            roles[Pair(timeline: row["timeline_id"], user: row["user_id"])] = role
        }
        return roles
    }

    /// The events already posted under these (author, client_msg_id) keys, in one statement.
    private func postedEvents(_ db: Database, _ keys: Set<IdempotencyKey>) throws -> [IdempotencyKey: TimelineEvent] {
        guard !keys.isEmpty else { return [:] }
        var arguments: [DatabaseValue] = []
        for key in keys { arguments += [key.author.databaseValue, key.clientMsgID.databaseValue] }
        let rows = try Row.fetchAll(db, sql: """
            SELECT * FROM events WHERE client_msg_id IS NOT NULL
            AND (author_id, client_msg_id) IN (\(Self.tuples(keys.count, width: 2)))
            """, arguments: SQLArguments(values: arguments))
        guard !rows.isEmpty else { return [:] }
        var found: [IdempotencyKey: TimelineEvent] = [:]
        for (row, event) in zip(rows, try decodeEvents(rows, db)) {
            found[IdempotencyKey(author: row["author_id"], clientMsgID: row["client_msg_id"])] = event
        }
        return found
    }

    /// `(?, ?), (?, ?)`: `count` row values of `width` placeholders.
    private static func tuples(_ count: Int, width: Int) -> String {
        let tuple = "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")"
        return Array(repeating: tuple, count: count).joined(separator: ", ")
    }
}
