-- chaperone store, SQLite. Version 4: write intents, writer leases, and who an orphaned webhook
-- claim was taken over from.
--
-- - write_intents: one row per session about to be written on a platform, committed before the
--   write is sent. It is closed in the transaction that records the session's result, so an
--   open intent whose writer is gone is a write that may have happened with no record: the
--   next run (or `serve` at start) reads the session back and records what it finds.
-- - leases: one writer per tenant and platform across processes. A row is taken with an atomic
--   upsert when it is free or expired, renewed while its holder works, deleted when it is done;
--   a holder that dies stops renewing and the lease expires.
-- - webhook_events.taken_over_from: the previous holder of a claim that was taken again because
--   it had run out (the process that held it died), so `serve` can say whose claim it took.
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE TABLE write_intents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT    NOT NULL,
    platform   TEXT    NOT NULL,
    run_id     TEXT    NOT NULL REFERENCES runs (id),
    holder     TEXT    NOT NULL,                              -- the writing process (Store::holder)
    session_id TEXT    NOT NULL,
    session    TEXT    NOT NULL CHECK (json_valid(session)),  -- JSON of session::Session, as read
    profile    TEXT    NOT NULL,                              -- the profile that planned the changes
    changes    TEXT    NOT NULL CHECK (json_valid(changes)),  -- JSON of [platform::Change]
    "before"   TEXT    NOT NULL CHECK (json_valid("before")), -- JSON {control: observed value}
    created_at TEXT    NOT NULL,
    closed_at  TEXT,
    outcome    TEXT                                           -- recorded, settled, ...
) STRICT;

CREATE INDEX write_intents_open ON write_intents (tenant, platform, id) WHERE closed_at IS NULL;
CREATE INDEX write_intents_by_session ON write_intents (run_id, platform, session_id)
    WHERE closed_at IS NULL;

CREATE TABLE leases (
    tenant      TEXT NOT NULL,
    platform    TEXT NOT NULL,
    holder      TEXT NOT NULL,   -- hostname:pid:random of the process holding it
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, platform)
) STRICT;

ALTER TABLE webhook_events ADD COLUMN taken_over_from TEXT;
