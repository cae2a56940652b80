import Foundation
import GRDB
import TsunaguCore

extension HubStore {
    /// Creates a timeline; its creator becomes `owner`, recorded as the timeline's first event.
    public func createTimeline(title: String, kind: TimelineKind, creator: UserRecord) async throws
        -> (summary: TimelineSummary, event: TimelineEvent)
    {
        let title = title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(title.count) else { throw StoreError.invalid("title: 1 to 200 characters") }
        let id = TimelineID.random()
        AuditScope.nameTarget(id.rawValue)
        let sealedTitle = seal(title, table: "timelines", column: "title", row: id.rawValue)
        let now = Self.nowMillis()
        let event = try await writeImmediate { [self] db in
            try db.execute(sql: """
                INSERT INTO timelines (id, org_id, kind, title, head, created_by, created_at) VALUES (?, ?, ?, ?, 0, ?, ?)
                """, arguments: [id.rawValue, creator.organization.rawValue, kind.rawValue, sealedTitle,
                                 creator.id.rawValue, now])
            try db.execute(sql: "INSERT INTO memberships (timeline_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
                           arguments: [id.rawValue, creator.id.rawValue, TimelineRole.owner.rawValue, now])
            return try appendEvent(db, timeline: id, author: creator.person, clientMsgID: nil,
                                   payload: .member(user: creator.person, op: .join, role: .owner), at: now)
        }
        return (TimelineSummary(id: id, title: title, kind: kind, role: .owner, head: event.seq, unread: 0), event)
    }

    /// The timelines `user` belongs to, with head and the count of others' messages after their
    /// read marker.
    public func timelines(for user: UserID) async throws -> [TimelineSummary] {
        return try await read { [self] db in
            try Row.fetchAll(db, sql: """
                SELECT t.id, t.kind, t.title, t.head, m.role,
                  (SELECT COUNT(*) FROM events e WHERE e.timeline_id = t.id AND e.kind = 'message'
                     AND e.author_id <> m.user_id
                     AND e.seq > COALESCE((SELECT r.seq FROM read_receipts r
                                           WHERE r.timeline_id = t.id AND r.user_id = m.user_id), 0)) AS unread
                FROM memberships m JOIN timelines t ON t.id = m.timeline_id
                WHERE m.user_id = ? ORDER BY t.created_at, t.id
                """, arguments: [user.rawValue])
            .map { row in
                let id = TimelineID(unchecked: row["id"])
                return TimelineSummary(
                    id: id, title: try open(row["title"], table: "timelines", column: "title", row: id.rawValue),
                    kind: TimelineKind(rawValue: row["kind"]) ?? .group,
                    role: TimelineRole(rawValue: row["role"]) ?? .viewer, head: row["head"], unread: row["unread"])
            }
        }
    }

    /// The user's role in the timeline; nil when not a member or when the timeline does not exist.
    public func role(of user: UserID, in timeline: TimelineID) async throws -> TimelineRole? {
        try await read { db in try Self.role(db, user: user, timeline: timeline) }
    }

    static func role(_ db: Database, user: UserID, timeline: TimelineID) throws -> TimelineRole? {
        // Cached statements: every operation on a timeline authorizes and most read the head.
        try String.fetchOne(db, sql: "SELECT role FROM memberships WHERE timeline_id = ? AND user_id = ?",
                            arguments: [timeline.rawValue, user.rawValue], cached: true).flatMap(TimelineRole.init)
    }

    /// Fails with `forbidden` unless `user`'s role allows `action`; the same answer whether the
    /// timeline does not exist or the user is not a member, so nothing leaks.
    @discardableResult
    static func authorize(_ db: Database, user: UserID, timeline: TimelineID, _ action: TimelineAction) throws -> TimelineRole {
        let role = try role(db, user: user, timeline: timeline)
        if let refusal = refusal(role, action) { throw refusal }
        return role!
    }

    /// Why `role` (nil: not a member) may not do `action`, or nil when it may.
    static func refusal(_ role: TimelineRole?, _ action: TimelineAction) -> StoreError? {
        guard let role else { return .forbidden("not a member of this timeline") }
        return TimelineAccessPolicy.allows(role, action) ? nil : .forbidden("the \(role.rawValue) role does not allow this")
    }

    static func head(_ db: Database, _ timeline: TimelineID) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT head FROM timelines WHERE id = ?", arguments: [timeline.rawValue], cached: true) ?? 0
    }

    /// Adds `email`'s user to the timeline with `role`; only an owner may. Users of any organization can
    /// be added (a care team spans organizations).
    public func addMember(timeline: TimelineID, email: String, role: TimelineRole, by actor: UserRecord) async throws
        -> (member: Membership, event: TimelineEvent)
    {
        guard let target = try await user(email: email), !target.disabled else {
            // Only an owner gets this far in the check below; answer forbidden first to non-owners.
            _ = try await read { db in try Self.authorize(db, user: actor.id, timeline: timeline, .addMember) }
            throw StoreError.notFound("no active user has that e-mail address")
        }
        let now = Self.nowMillis()
        let event = try await writeImmediate { [self] db in
            try db.dialect.lockTimeline(db, timeline.rawValue)
            try Self.authorize(db, user: actor.id, timeline: timeline, .addMember)
            if try Self.role(db, user: target.id, timeline: timeline) != nil {
                throw StoreError.conflict("already a member")
            }
            try db.execute(sql: "INSERT INTO memberships (timeline_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
                           arguments: [timeline.rawValue, target.id.rawValue, role.rawValue, now])
            return try appendEvent(db, timeline: timeline, author: actor.person, clientMsgID: nil,
                                   payload: .member(user: target.person, op: .join, role: role), at: now)
        }
        return (Membership(user: target.person, role: role), event)
    }

    /// Removes a member: an owner may remove anyone, anyone may leave. The last owner cannot.
    public func removeMember(timeline: TimelineID, user target: UserID, by actor: UserRecord) async throws -> TimelineEvent {
        let now = Self.nowMillis()
        return try await writeImmediate { [self] db in
            // The last-owner check holds until commit: two owners leaving at once take turns.
            try db.dialect.lockTimeline(db, timeline.rawValue)
            try Self.authorize(db, user: actor.id, timeline: timeline, target == actor.id ? .leave : .removeMember)
            guard let role = try Self.role(db, user: target, timeline: timeline) else {
                throw StoreError.notFound("not a member")
            }
            if role == .owner {
                let owners = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM memberships WHERE timeline_id = ? AND role = 'owner'",
                                              arguments: [timeline.rawValue]) ?? 0
                if owners <= 1 { throw StoreError.conflict("the last owner cannot leave; add another owner first") }
            }
            try db.execute(sql: "DELETE FROM memberships WHERE timeline_id = ? AND user_id = ?",
                           arguments: [timeline.rawValue, target.rawValue])
            try Self.recordMembershipRevocation(db, timeline: timeline, user: target, at: now)
            let person = try people([target], db)[target] ?? Person(id: target, name: "")
            return try appendEvent(db, timeline: timeline, author: actor.person, clientMsgID: nil,
                                   payload: .member(user: person, op: .leave, role: role), at: now)
        }
    }

    public func members(of timeline: TimelineID) async throws -> [Membership] {
        try await read { [self] db in
            let rows = try Row.fetchAll(db, sql: "SELECT user_id, role FROM memberships WHERE timeline_id = ?",
                                        arguments: [timeline.rawValue])
            let people = try people(Set(rows.map { UserID(unchecked: $0["user_id"]) }), db)
            return rows.map { row in
                let id = UserID(unchecked: row["user_id"])
                return Membership(user: people[id] ?? Person(id: id, name: ""),
                                  role: TimelineRole(rawValue: row["role"]) ?? .viewer)
            }
        }
    }

    /// The members of a timeline with name, profession, role and read marker, for a member of it
    /// (anyone else: `forbidden`). Names come from the cache; professions and markers from the rows,
    /// so 既読 counts by profession are current on every node.
    public func memberList(timeline: TimelineID, for user: UserID) async throws -> [TimelineMemberEntry] {
        try await read { [self] db in
            try Self.authorize(db, user: user, timeline: timeline, .read)
            let rows = try Row.fetchAll(db, sql: """
                SELECT m.user_id, m.role, u.profession, COALESCE(r.seq, 0) AS read_seq
                FROM memberships m JOIN users u ON u.id = m.user_id
                LEFT JOIN read_receipts r ON r.timeline_id = m.timeline_id AND r.user_id = m.user_id
                WHERE m.timeline_id = ? ORDER BY m.joined_at, m.user_id
                """, arguments: [timeline.rawValue])
            let people = try people(Set(rows.map { UserID(unchecked: $0["user_id"]) }), db)
            return rows.map { row in
                let id = UserID(unchecked: row["user_id"])
                var person = people[id] ?? Person(id: id, name: "")
                let profession = Self.profession(row)
                if person.profession != profession {
                    person.profession = profession
                    names.set(person)
                }
                return TimelineMemberEntry(user: person, role: TimelineRole(rawValue: row["role"]) ?? .viewer,
                                           readSeq: row["read_seq"])
            }
        }
    }
}
