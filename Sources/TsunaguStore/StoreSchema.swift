import GRDB

/// Named, forward-only migrations. A released migration is never edited: changes come as new ones.
///
/// Encrypted columns (BLOB, AES-256-GCM via `FieldCipher`, bound to table/column/row): organization
/// names, user e-mail addresses and names, timeline titles, event payloads (bodies, reactions, call
/// ids). Plaintext only where the server must query: ids, seq, times, roles, blind indexes, hashes.
enum StoreSchema {
    /// One list for both backends: `StoreMigrator` runs it on SQLite through GRDB and makes the
    /// PostgreSQL twin of each migration by translating its DDL (see there to add one).
    static var migrator: StoreMigrator {
        var migrator = StoreMigrator()
        migrator.registerMigration("2026-11-27-core") { db in
            try db.execute(sql: """
                CREATE TABLE data_keys (
                    id TEXT PRIMARY KEY,
                    wrapped BLOB NOT NULL,          -- wrapped by the master key, which is never stored
                    is_current INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE organizations (
                    id TEXT PRIMARY KEY,
                    name BLOB NOT NULL,
                    name_index BLOB NOT NULL UNIQUE, -- HMAC blind index of the normalized name
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    org_id TEXT NOT NULL REFERENCES organizations(id),
                    email BLOB NOT NULL,
                    email_index BLOB NOT NULL UNIQUE,
                    name BLOB NOT NULL,
                    password_hash TEXT,
                    org_role TEXT NOT NULL,
                    disabled INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX users_org ON users(org_id);
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users(id),
                    token_hash BLOB NOT NULL UNIQUE,  -- SHA-256 of the bearer token
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE INDEX sessions_user ON sessions(user_id);
                CREATE TABLE timelines (
                    id TEXT PRIMARY KEY,
                    org_id TEXT NOT NULL REFERENCES organizations(id),
                    kind TEXT NOT NULL,
                    title BLOB NOT NULL,
                    head INTEGER NOT NULL DEFAULT 0,  -- the latest seq; assigned in the committing transaction
                    created_by TEXT NOT NULL REFERENCES users(id),
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE memberships (
                    timeline_id TEXT NOT NULL REFERENCES timelines(id),
                    user_id TEXT NOT NULL REFERENCES users(id),
                    role TEXT NOT NULL,
                    joined_at INTEGER NOT NULL,
                    PRIMARY KEY (timeline_id, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX memberships_user ON memberships(user_id);
                CREATE TABLE events (
                    timeline_id TEXT NOT NULL REFERENCES timelines(id),
                    seq INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    author_id TEXT NOT NULL REFERENCES users(id),
                    at_ms INTEGER NOT NULL,
                    client_msg_id TEXT,              -- client-made UUID, for idempotent posts
                    payload BLOB NOT NULL,
                    PRIMARY KEY (timeline_id, seq)
                ) WITHOUT ROWID;
                CREATE UNIQUE INDEX events_idempotency ON events(author_id, client_msg_id)
                    WHERE client_msg_id IS NOT NULL;
                CREATE TABLE read_receipts (
                    timeline_id TEXT NOT NULL REFERENCES timelines(id),
                    user_id TEXT NOT NULL REFERENCES users(id),
                    seq INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (timeline_id, user_id)
                ) WITHOUT ROWID;
                CREATE TABLE call_logs (
                    timeline_id TEXT NOT NULL REFERENCES timelines(id),
                    call_id TEXT NOT NULL,
                    started_by TEXT NOT NULL REFERENCES users(id),
                    started_at INTEGER NOT NULL,
                    ended_at INTEGER,
                    start_seq INTEGER NOT NULL,
                    end_seq INTEGER,
                    PRIMARY KEY (timeline_id, call_id)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("2026-11-27-cluster") { db in
            try db.execute(sql: """
                CREATE TABLE nodes (
                    id TEXT PRIMARY KEY,
                    host TEXT NOT NULL,
                    port INTEGER NOT NULL,
                    state TEXT NOT NULL,             -- joining, active, draining, gone
                    requested_state TEXT,            -- set by an operator: draining
                    started_at INTEGER NOT NULL,
                    heartbeat_at INTEGER NOT NULL,
                    connections INTEGER NOT NULL DEFAULT 0,
                    subscriptions INTEGER NOT NULL DEFAULT 0,
                    pid INTEGER
                );
                """)
        }
        migrator.registerMigration("2026-11-27-audit") { db in
            try db.execute(sql: """
                CREATE TABLE audit_log (
                    seq INTEGER PRIMARY KEY,          -- position in the one chain of the store
                    at_ms INTEGER NOT NULL,
                    org_id TEXT,                     -- the organization whose admins may read it
                    actor_id TEXT,                   -- a user id, or NULL for an operator command
                    action TEXT NOT NULL,            -- e.g. login.success, member.add
                    target TEXT,                     -- an id (user, timeline, session), never a name
                    source TEXT,                     -- source address, or "cli"
                    node TEXT,
                    details BLOB,                    -- encrypted: anything a person typed (e.g. an e-mail address)
                    chain BLOB NOT NULL              -- HMAC-SHA-256(previous chain ‖ this row)
                );
                CREATE INDEX audit_org ON audit_log(org_id, at_ms);
                """)
        }
        migrator.registerMigration("2026-11-27-identity") { db in
            try db.execute(sql: """
                CREATE TABLE activation_links (
                    token_hash BLOB PRIMARY KEY,     -- SHA-256 of the single-use token mailed out
                    user_id TEXT NOT NULL REFERENCES users(id),
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    used_at INTEGER
                );
                CREATE TABLE outbox (
                    id TEXT PRIMARY KEY,
                    recipient BLOB NOT NULL,         -- encrypted, like everything a person typed
                    subject BLOB NOT NULL,
                    body BLOB NOT NULL,              -- carries a link token: encrypted at rest
                    created_at INTEGER NOT NULL,
                    next_attempt_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    lease_until INTEGER NOT NULL DEFAULT 0,
                    sent_at INTEGER,
                    failed_permanently INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT
                );
                CREATE INDEX outbox_due ON outbox(sent_at, failed_permanently, next_attempt_at);
                """)
        }
        migrator.registerMigration("2026-11-27-login-throttle") { db in
            try db.execute(sql: """
                CREATE TABLE login_failures (
                    key BLOB PRIMARY KEY,            -- HMAC of "account:<address>" or "source:<ip>": no address in clear
                    failures INTEGER NOT NULL,
                    window_start INTEGER NOT NULL,
                    locked_until INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("2026-11-27-client-certificates") { db in
            try db.execute(sql: """
                ALTER TABLE organizations ADD COLUMN require_client_certificate INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE user_certificates (
                    user_id TEXT NOT NULL REFERENCES users(id),
                    fingerprint BLOB NOT NULL,       -- SHA-256 of the certificate's DER
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (user_id, fingerprint)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("2026-11-27-password-policy") { db in
            try db.execute(sql: """
                ALTER TABLE organizations ADD COLUMN password_min_length INTEGER NOT NULL DEFAULT 10;
                ALTER TABLE organizations ADD COLUMN password_min_classes INTEGER NOT NULL DEFAULT 1;
                """)
        }
        migrator.registerMigration("2026-12-01-profession") { db in
            // A closed list (TsunaguCore.Profession), not text a person typed: a plain column.
            try db.execute(sql: """
                ALTER TABLE users ADD COLUMN profession TEXT NOT NULL DEFAULT 'other';
                """)
        }
        migrator.registerMigration("2026-12-01-login-attempt-reservations") { db in
            // Password checks reserved and not yet finished (HubStore.reserveLoginAttempt).
            try db.execute(sql: "ALTER TABLE login_failures ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("2026-12-01-session-certificate-binding") { db in
            // SHA-256 of the client certificate a session logged in with where its organization
            // required one: every use of the token must present the same certificate.
            try db.execute(sql: "ALTER TABLE sessions ADD COLUMN certificate_fingerprint BLOB")
        }
        migrator.registerMigration("2026-12-02-durable-revocation") { db in
            // Every revocation (a session ended, a member removed from a timeline), written in the
            // transaction of the change; every node follows it by id (docs/security.md, item 4).
            // Ids only: nothing a person typed.
            try db.execute(sql: """
                CREATE TABLE revocations (
                    id INTEGER PRIMARY KEY,          -- max + 1 in the writing transaction: followers read id > last seen
                    at_ms INTEGER NOT NULL,
                    kind TEXT NOT NULL,              -- 'session' or 'membership'
                    session_id TEXT,
                    user_id TEXT,
                    timeline_id TEXT
                );
                CREATE INDEX revocations_at ON revocations(at_ms);
                """)
        }
        migrator.registerMigration("2026-12-02-session-activity") { db in
            // Idle timeout per organization (minutes) and what a user sees of their sessions.
            try db.execute(sql: """
                ALTER TABLE organizations ADD COLUMN session_idle_minutes INTEGER NOT NULL DEFAULT 60;
                ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
                ALTER TABLE sessions ADD COLUMN source TEXT;
                ALTER TABLE sessions ADD COLUMN user_agent TEXT;
                """)
        }
        migrator.registerMigration("2026-12-02-key-rotation") { db in
            // Keys that used to be derived from the master key (blind index, audit chain, peer
            // links) are stored wrapped, like data keys, so that a master-key rotation rewraps
            // them instead of changing them. The migration cannot see the master key: the first
            // open after it wraps the values derived today (HubStore.loadKeySet), so nothing
            // changes for existing data. Retired data keys keep their row (id, dates) without
            // key material. key_rotation holds the resumable state of a data-key rotation. The
            // audit chain commits to the original ciphertext of audit details, so a rotation puts
            // their re-sealed value beside it, in details_resealed, which readers prefer.
            try db.execute(sql: """
                CREATE TABLE key_secrets (
                    purpose TEXT PRIMARY KEY,        -- blind-index, audit-chain, peer-link
                    wrapped BLOB NOT NULL,           -- wrapped by the master key, as data keys are
                    created_at INTEGER NOT NULL
                );
                ALTER TABLE data_keys ADD COLUMN retired_at INTEGER;
                ALTER TABLE audit_log ADD COLUMN details_resealed BLOB;
                CREATE TABLE key_rotation (
                    target_key TEXT PRIMARY KEY,     -- the data key rows are moved to
                    started_at INTEGER NOT NULL,
                    pass INTEGER NOT NULL DEFAULT 1,
                    pass_started_at INTEGER NOT NULL,
                    pass_moved INTEGER NOT NULL DEFAULT 0,
                    table_name TEXT NOT NULL,        -- where the pass is
                    cursor_text TEXT NOT NULL DEFAULT '',
                    cursor_seq INTEGER NOT NULL DEFAULT 0,
                    moved INTEGER NOT NULL DEFAULT 0, -- rows re-encrypted so far, all passes
                    finished_at INTEGER
                );
                """)
        }
        migrator.registerMigration("2026-12-02-operations") { db in
            // Operator notices, incidents and monitor alerts (docs/operations.md, "Notices,
            // incidents and monitors"), and where each node's admin listener answers.
            try db.execute(sql: """
                CREATE TABLE notices (
                    id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,              -- change
                    starts_at INTEGER NOT NULL,
                    ends_at INTEGER NOT NULL,
                    text BLOB NOT NULL,              -- encrypted, like everything a person typed
                    created_at INTEGER NOT NULL,
                    removed_at INTEGER
                );
                CREATE TABLE incidents (
                    id TEXT PRIMARY KEY,
                    detected_at INTEGER NOT NULL,
                    opened_at INTEGER NOT NULL,
                    notified_at INTEGER,             -- when the affected organizations' admins were told
                    closed_at INTEGER,
                    text BLOB NOT NULL
                );
                CREATE TABLE incident_organizations (
                    incident_id TEXT NOT NULL REFERENCES incidents(id),
                    org_id TEXT NOT NULL REFERENCES organizations(id),
                    PRIMARY KEY (incident_id, org_id)
                );
                CREATE TABLE monitor_alerts (
                    id TEXT PRIMARY KEY,
                    org_id TEXT NOT NULL REFERENCES organizations(id),
                    rule TEXT NOT NULL,              -- login_failures, patient_reads, mass_invitations, fan_out
                    subject TEXT,                    -- a user id, or NULL for an organization-wide rule
                    at_ms INTEGER NOT NULL,
                    observed INTEGER NOT NULL,
                    threshold INTEGER NOT NULL,
                    window_ms INTEGER NOT NULL
                );
                CREATE INDEX monitor_alerts_org ON monitor_alerts(org_id, at_ms);
                ALTER TABLE nodes ADD COLUMN admin_address TEXT;
                """)
        }
        migrator.registerMigration("2026-12-01-timeline-invitations") { db in
            // Pending invitations of users of other organizations (HubStore+Invitations): ids
            // and a role, nothing a person typed.
            try db.execute(sql: """
                CREATE TABLE timeline_invitations (
                    id TEXT PRIMARY KEY,
                    timeline_id TEXT NOT NULL REFERENCES timelines(id),
                    invitee_id TEXT NOT NULL REFERENCES users(id),
                    inviter_id TEXT NOT NULL REFERENCES users(id),
                    role TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    UNIQUE (timeline_id, invitee_id)
                );
                CREATE INDEX timeline_invitations_invitee ON timeline_invitations (invitee_id);
                """)
        }
        return migrator
    }
}
